"""GPU resources built once per scene: programs, instanced batches, the visuals texture.

A textured mesh (:attr:`MeshData.textured`) gets its base colour textures uploaded once
(an image many parts or batches share, once): sRGB (``GL_SRGB8_ALPHA8``, so the GPU decodes
to linear before filtering), mipmapped, with the glTF sampler's filters and wrap modes
(mirrored repeat is done in the shader) and anisotropic filtering where the driver has it.
Such a batch draws one call per texture range, its texture on :data:`TEXTURE_UNIT`;
untextured batches stay one draw call and set no uniform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.visuals import MachineVisuals
from xrclient.resources import shader_source
from xrclient.scene.geometry import Batch
from xrclient.scene.mesh import MeshData
from xrclient.scene.textures import (
    CLAMP_TO_EDGE,
    LINEAR,
    LINEAR_MIPMAP_LINEAR,
    MIRRORED_REPEAT,
    NEAREST,
    Texture,
)

#: alpha below this marks a batch as translucent (drawn blended, after the opaque ones)
OPAQUE_ALPHA = 0.999
#: the texture unit of base colour textures (unit 0 holds the machine visuals)
TEXTURE_UNIT = 1
#: ``GL_SRGB8_ALPHA8``
SRGB8_ALPHA8 = 0x8C43
#: ``u_alpha`` of a range: the texture's alpha ignored (OPAQUE), multiplied (BLEND); a
#: value in 0..1 is a MASK cutoff
_ALPHA_OPAQUE, _ALPHA_BLEND = -1.0, 2.0
_MIPMAPPED = (9984, 9985, 9986, LINEAR_MIPMAP_LINEAR)


@dataclass(frozen=True, slots=True)
class TextureRange:
    """Consecutive triangles drawn with one texture (``texture`` None: untextured)."""

    first: int  # first index (3 per triangle)
    count: int  # indices
    texture: moderngl.Texture | None
    mirror: tuple[float, float] = (0.0, 0.0)  # 1: MIRRORED_REPEAT along u / v
    alpha: float = _ALPHA_OPAQUE


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
    #: the per-instance buffers: column-major model matrices (16 f4) and machines (i4)
    instance_buffers: tuple[moderngl.Buffer, moderngl.Buffer] | None = None
    #: textured batches: the triangle ranges, one draw call each, and their textures
    ranges: tuple[TextureRange, ...] = ()
    textures: tuple[moderngl.Texture, ...] = field(default=())

    @property
    def draw_calls(self) -> int:
        """Draw calls one :meth:`render` makes."""
        return len(self.ranges) or 1

    def render(self, glow: bool = True, instances: int | None = None) -> None:
        """Draw every instance, or the first ``instances`` of the instance buffers;
        ``glow=False`` may use the cheaper program without glow."""
        vao = self.vao if glow or self.plain_vao is None else self.plain_vao
        count = self.instances if instances is None else instances
        if not self.ranges:
            vao.render(instances=count)
            return
        program = vao.program
        for part in self.ranges:
            if part.texture is not None:
                part.texture.use(TEXTURE_UNIT)
                _set(program, "u_mirror", part.mirror)
                _set(program, "u_alpha", part.alpha)
            _set(program, "u_textured", part.texture is not None)
            vao.render(vertices=part.count, first=part.first, instances=count)
        # untextured batches rely on the program's initial state: no texture
        _set(program, "u_textured", False)

    def write_instances(self, model: npt.ArrayLike, machine: npt.ArrayLike) -> None:
        """Write ``(n, 4, 4)`` column-major (transposed) model matrices and ``n`` machine
        indices to the front of the instance buffers, ``n`` at most ``instances``."""
        if self.instance_buffers is None:
            raise RuntimeError(f"batch {self.asset!r} has no instance buffers")
        matrices = np.ascontiguousarray(model, dtype=np.float32).reshape(-1, 16)
        owners = np.ascontiguousarray(machine, dtype=np.int32).reshape(-1)
        if matrices.shape[0] != owners.shape[0] or owners.shape[0] > self.instances:
            raise ValueError(f"{owners.shape[0]} instances do not fit batch {self.asset!r}")
        model_buffer, machine_buffer = self.instance_buffers
        model_buffer.write(matrices)
        machine_buffer.write(owners)

    def release(self) -> None:
        self.vao.release()
        if self.plain_vao is not None:
            self.plain_vao.release()
        for buf in self.buffers:
            buf.release()
        for texture in self.textures:
            texture.release()


def _set(program: moderngl.Program, name: str, value: object) -> None:
    member = program.get(name, None)
    if isinstance(member, moderngl.Uniform):
        member.value = value


def _upload_texture(ctx: moderngl.Context, texture: Texture) -> moderngl.Texture:
    """An sRGB, mipmapped GL texture of ``texture`` with its sampler's modes."""
    height, width = texture.pixels.shape[:2]
    gl = ctx.texture(
        (width, height),
        4,
        data=np.ascontiguousarray(texture.pixels, dtype=np.uint8).tobytes(),
        internal_format=SRGB8_ALPHA8,
    )
    mipmapped = texture.min_filter in _MIPMAPPED
    if mipmapped:
        gl.build_mipmaps()
    gl.filter = (
        texture.min_filter if mipmapped or texture.min_filter in (NEAREST, LINEAR) else LINEAR,
        NEAREST if texture.mag_filter == NEAREST else LINEAR,
    )
    gl.repeat_x = texture.wrap_s != CLAMP_TO_EDGE
    gl.repeat_y = texture.wrap_t != CLAMP_TO_EDGE
    if texture.min_filter == LINEAR_MIPMAP_LINEAR and texture.mag_filter == LINEAR:
        # trilinear only: some drivers filter linearly whenever anisotropy is on
        try:
            gl.anisotropy = 16.0  # clamped by the driver; ignored without the extension
        except (moderngl.Error, AttributeError):
            pass
    return gl


#: GL textures by (image, wrap s, wrap t, min filter, mag filter): one upload per image
TextureCache = dict[tuple[int, int, int, int, int], moderngl.Texture]


def _texture_ranges(
    ctx: moderngl.Context, mesh: MeshData, shared: TextureCache | None
) -> tuple[tuple[TextureRange, ...], tuple[moderngl.Texture, ...], bool]:
    """The draw ranges of a textured mesh, the GL textures it owns (one per distinct image
    and sampler; none when they go into the caller's ``shared`` cache) and whether a
    blended texture has translucent texels."""
    uploaded: TextureCache = {} if shared is None else shared
    ranges: list[TextureRange] = []
    blends = False
    for first, count, index in mesh.texture_ranges.tolist():
        if count <= 0:
            continue
        if index < 0:
            ranges.append(TextureRange(first * 3, count * 3, None))
            continue
        tex = mesh.textures[index]
        key = (id(tex.pixels), tex.wrap_s, tex.wrap_t, tex.min_filter, tex.mag_filter)
        if key not in uploaded:
            uploaded[key] = _upload_texture(ctx, tex)
        if tex.alpha_mode == "MASK":
            alpha = float(tex.alpha_cutoff)
        elif tex.alpha_mode == "BLEND":
            alpha = _ALPHA_BLEND
            blends = blends or int(tex.pixels[..., 3].min()) < 255
        else:
            alpha = _ALPHA_OPAQUE
        mirror = (float(tex.wrap_s == MIRRORED_REPEAT), float(tex.wrap_t == MIRRORED_REPEAT))
        ranges.append(TextureRange(first * 3, count * 3, uploaded[key], mirror, alpha))
    owned = tuple(uploaded.values()) if shared is None else ()
    return tuple(ranges), owned, blends


def upload_batch(
    ctx: moderngl.Context,
    batch: Batch,
    mesh_program: moderngl.Program,
    points_program: moderngl.Program,
    plain_program: moderngl.Program | None = None,
    textured_programs: tuple[moderngl.Program, moderngl.Program | None] | None = None,
    texture_cache: TextureCache | None = None,
) -> GpuBatch | None:
    """Buffers and VAO for ``batch``; ``None`` when there is nothing to draw.

    ``plain_program`` (the mesh program without glow) gets a second VAO for triangle
    batches. A textured mesh is drawn by ``textured_programs`` instead (the mesh program
    compiled with ``TEXTURED 1``, with and without glow), which must then be given. Its
    textures go into ``texture_cache`` when one is given (the caller releases them: the
    chunks of one mesh, or the nodes of one file, upload an image once), else the batch
    owns them.
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
    ranges: tuple[TextureRange, ...] = ()
    textures: tuple[moderngl.Texture, ...] = ()
    blends = False
    buffers: tuple[moderngl.Buffer, ...]
    plain_vao: moderngl.VertexArray | None = None
    if points:
        content = [(vbo, "3f 12x 4f", "in_position", "in_color"), *instanced]
        vao = ctx.vertex_array(points_program, content, mode=moderngl.POINTS)
        buffers = (vbo, model, machine)
    else:
        ibo = ctx.buffer(np.ascontiguousarray(mesh.indices, dtype=np.uint32))
        content = [(vbo, "3f 3f 4f", "in_position", "in_normal", "in_color"), *instanced]
        if mesh.textured:
            if textured_programs is None:
                raise ValueError(f"batch {batch.asset!r} is textured: give textured_programs")
            mesh_program, plain_program = textured_programs
            ranges, textures, blends = _texture_ranges(ctx, mesh, texture_cache)
            content[0] = (vbo, "3f 3f 4f 2f", "in_position", "in_normal", "in_color", "in_uv")
            for program in (mesh_program, plain_program):
                if program is not None:
                    _set(program, "u_texture", TEXTURE_UNIT)

        def indexed(program: moderngl.Program) -> moderngl.VertexArray:
            return ctx.vertex_array(
                program, content, index_buffer=ibo, index_element_size=4, mode=moderngl.TRIANGLES
            )

        vao = indexed(mesh_program)
        plain_vao = indexed(plain_program) if plain_program is not None else None
        buffers = (vbo, ibo, model, machine)
    translucent = blends or bool(
        mesh.colors.shape[0] and float(mesh.colors[:, 3].min()) < OPAQUE_ALPHA
    )
    return GpuBatch(
        asset=batch.asset,
        vao=vao,
        buffers=buffers,
        points=points,
        translucent=translucent,
        instances=batch.instance_count,
        triangles=mesh.triangle_count,
        plain_vao=plain_vao,
        instance_buffers=(model, machine),
        ranges=ranges,
        textures=textures,
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
