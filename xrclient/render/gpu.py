"""GPU resources built once per scene: programs, instanced batches, the visuals texture."""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

from xrclient.core.visuals import MachineVisuals
from xrclient.resources import shader_source
from xrclient.scene.geometry import Batch

#: alpha below this marks a batch as translucent (drawn blended, after the opaque ones)
OPAQUE_ALPHA = 0.999


def load_program(
    ctx: moderngl.Context, name: str, defines: dict[str, int] | None = None
) -> moderngl.Program:
    """Compile ``shaders/<name>.vert`` + ``.frag``, with ``#define``s after ``#version``."""

    def source(stage: str) -> str:
        text = shader_source(f"{name}.{stage}")
        if not defines:
            return text
        version, _, rest = text.partition("\n")
        lines = "".join(f"#define {key} {value}\n" for key, value in defines.items())
        return f"{version}\n{lines}{rest}"

    return ctx.program(vertex_shader=source("vert"), fragment_shader=source("frag"))


@dataclass(slots=True, eq=False)
class GpuBatch:
    """One asset on the GPU: static vertex, index and per-instance buffers and their VAO.

    A triangle batch may have a second VAO over the same buffers, ``plain_vao``, for the
    mesh program compiled without emissive and highlight (``GLOW 0``): drawing with it
    gives the same pixels while none of the batch's machines glows, and costs less.
    """

    asset: str
    vao: moderngl.VertexArray
    buffers: tuple[moderngl.Buffer, ...]
    points: bool
    translucent: bool
    instances: int
    triangles: int  # per instance
    plain_vao: moderngl.VertexArray | None = None

    def render(self, glow: bool = True) -> None:
        """Draw every instance; ``glow=False`` may use the cheaper program without glow."""
        vao = self.vao if glow or self.plain_vao is None else self.plain_vao
        vao.render(instances=self.instances)

    def release(self) -> None:
        self.vao.release()
        if self.plain_vao is not None:
            self.plain_vao.release()
        for buf in self.buffers:
            buf.release()


def upload_batch(
    ctx: moderngl.Context,
    batch: Batch,
    mesh_program: moderngl.Program,
    points_program: moderngl.Program,
    plain_program: moderngl.Program | None = None,
) -> GpuBatch | None:
    """Buffers and VAO for ``batch``; ``None`` when there is nothing to draw.

    ``plain_program`` (the mesh program without glow) gets a second VAO for triangle
    batches.
    """
    mesh = batch.mesh
    points = mesh.primitive == "points"
    if batch.instance_count == 0 or mesh.vertex_count == 0:
        return None
    if not points and mesh.triangle_count == 0:
        return None
    vbo = ctx.buffer(mesh.interleaved())
    # GLSL reads a mat4 attribute as four column vec4s: upload the transposed (column-major)
    # matrices.
    model = ctx.buffer(np.ascontiguousarray(batch.matrices.transpose(0, 2, 1), dtype=np.float32))
    machine = ctx.buffer(np.ascontiguousarray(batch.machine, dtype=np.int32))
    instanced = [(model, "16f/i", "in_model"), (machine, "i/i", "in_machine")]
    buffers: tuple[moderngl.Buffer, ...]
    plain_vao: moderngl.VertexArray | None = None
    if points:
        content = [(vbo, "3f 12x 4f", "in_position", "in_color"), *instanced]
        vao = ctx.vertex_array(points_program, content, mode=moderngl.POINTS)
        buffers = (vbo, model, machine)
    else:
        ibo = ctx.buffer(np.ascontiguousarray(mesh.indices, dtype=np.uint32))
        content = [(vbo, "3f 3f 4f", "in_position", "in_normal", "in_color"), *instanced]

        def indexed(program: moderngl.Program) -> moderngl.VertexArray:
            return ctx.vertex_array(
                program, content, index_buffer=ibo, index_element_size=4, mode=moderngl.TRIANGLES
            )

        vao = indexed(mesh_program)
        plain_vao = indexed(plain_program) if plain_program is not None else None
        buffers = (vbo, ibo, model, machine)
    translucent = bool(mesh.colors.shape[0] and float(mesh.colors[:, 3].min()) < OPAQUE_ALPHA)
    return GpuBatch(
        asset=batch.asset,
        vao=vao,
        buffers=buffers,
        points=points,
        translucent=translucent,
        instances=batch.instance_count,
        triangles=mesh.triangle_count,
        plain_vao=plain_vao,
    )


class VisualsTexture:
    """RGBA32F texture holding a :class:`MachineVisuals` array, sampled with ``texelFetch``."""

    def __init__(self, ctx: moderngl.Context, machine_count: int) -> None:
        self._blank = MachineVisuals(machine_count)
        self.size = self._blank.texture_size
        self.texture = ctx.texture(self.size, 4, dtype="f4")
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.texture.repeat_x = self.texture.repeat_y = False
        self.texture.write(self._blank.data)
        self._blank_on_gpu = True

    def upload(self, visuals: MachineVisuals | None) -> None:
        """One write of ``visuals.data`` (no copy); ``None`` restores the all-zero state."""
        if visuals is None:
            if not self._blank_on_gpu:
                self.texture.write(self._blank.data)
                self._blank_on_gpu = True
            return
        data = visuals.data
        if data.shape != self._blank.data.shape or data.dtype != np.float32:
            raise ValueError(
                f"visuals for {visuals.count} machines do not fit this renderer's "
                f"{self._blank.count} machines"
            )
        self.texture.write(data)
        self._blank_on_gpu = False

    def use(self, location: int = 0) -> None:
        self.texture.use(location)

    def release(self) -> None:
        self.texture.release()
