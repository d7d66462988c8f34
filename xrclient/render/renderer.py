"""The one renderer: instanced, lit scene geometry drawn into any number of views.

Per frame the CPU work is one upload of the machine visuals, one numpy pass per view
culling every instance against the view frustum, one finding the batches with a glowing
visible machine (emissive or highlight) and, per view, the view-projection and eye uniform
writes; everything else (buffers, VAOs, lights, each instance's world box) is built in
``__init__``. Each batch (an asset, or a chunk of one) is at most one instanced draw call
per view, whatever the machine count. A batch none of whose visible machines glows is
drawn by the mesh program compiled without glow, which gives the same pixels for less work
on a software rasterizer.

View-frustum culling (:mod:`xrclient.render.culling`, ``culling=True``) never changes a
pixel: a batch no view of the frame sees is not drawn; the views of one frame are culled
together (a batch is skipped in each view that does not see it and otherwise draws every
instance any view of the frame sees, so the two eyes of a headset share one instance set);
an instanced batch with only some instances visible draws them compacted to the front of
its instance buffers, rewritten only when that set changes (``instance_writes`` counts the
rewrites). Point batches are never culled (a sprite reaches past its centre). Large static
meshes come split into spatial chunks by :func:`xrclient.scene.geometry.build_geometry`, so
they cull piecewise.

Translucent assets (any vertex alpha < 1) are drawn after the opaque ones with alpha
blending and depth writes off; they are not sorted, which suits a few glass guards but not
nested transparency (and with ``srgb_output`` blending mixes encoded values). Back faces
are not culled (assets come with mixed winding): lighting is two-sided instead.

``background`` is a display (sRGB-encoded) colour: with ``srgb_output`` the shaders encode
linear light to sRGB and the background is cleared as given; without it (an sRGB swapchain
that encodes on write) the shaders write linear light and the background is cleared linear.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import moderngl
import numpy as np

from xrclient.core import math3d
from xrclient.core.color import srgb_to_linear
from xrclient.core.view import View
from xrclient.core.visuals import MachineVisuals
from xrclient.render.culling import FramePlan, InstanceCulling
from xrclient.render.gpu import (
    GpuBatch,
    TextureCache,
    VisualsTexture,
    load_program,
    upload_batch,
)
from xrclient.scene.geometry import Batch, SceneGeometry
from xrclient.scene.model import Light

#: directional + point lights drawn; further ones are ignored
MAX_LIGHTS = 8

#: used when the scene has no lights: sky/ground hemisphere, a warm key and a cool fill
DEFAULT_LIGHTS: tuple[Light, ...] = (
    Light("hemisphere", color=(0.80, 0.88, 1.0), ground=(0.38, 0.33, 0.28), intensity=1.2),
    Light("directional", color=(1.0, 0.94, 0.84), intensity=2.2, direction=(-0.45, -1.0, -0.35)),
    Light("directional", color=(0.75, 0.85, 1.0), intensity=0.6, direction=(0.5, -0.4, 0.6)),
)

_VISUALS_UNIT = 0


@dataclass(frozen=True, slots=True)
class FrameStats:
    """What one ``Renderer.draw`` did. ``draw_calls``, ``instances`` and ``triangles`` are
    what was drawn per view (the sum over views divided by ``views``, rounded down);
    ``culled`` is the instances culling skipped, summed over the views."""

    views: int
    draw_calls: int
    instances: int
    triangles: int
    prepare_s: float  # CPU time in draw() outside clears and draw calls
    culled: int = 0


def _light_uniforms(lights: Sequence[Light]) -> tuple[dict[str, int], dict[str, Any]]:
    """Shader defines (light counts) and uniform values for the scene's lights.

    The mesh program is compiled for the exact number of directional and point lights, so
    its light loops have constant bounds and no per-light branch: on a software rasterizer
    that halves the cost of a lit pixel.
    """
    ambient = np.zeros(3)
    sky = np.zeros(3)
    ground = np.zeros(3)
    dirs: list[tuple[np.ndarray, np.ndarray]] = []
    points: list[tuple[np.ndarray, np.ndarray]] = []
    for light in lights or DEFAULT_LIGHTS:
        radiance = np.asarray(light.color, dtype=np.float64) * light.intensity
        if light.kind == "ambient":
            ambient += radiance
        elif light.kind == "hemisphere":
            sky += radiance
            ground += np.asarray(light.ground, dtype=np.float64) * light.intensity
        elif len(dirs) + len(points) >= MAX_LIGHTS:
            continue  # extra directional / point lights are ignored
        elif light.kind == "directional":
            d = -np.asarray(light.direction, dtype=np.float64)
            norm = float(np.linalg.norm(d))
            if norm > 0.0:
                dirs.append((d / norm, radiance))
        else:
            points.append((np.asarray(light.position, dtype=np.float64), radiance))
    # irradiance = ambient + mix(ground, sky, 0.5 + 0.5 * n.y) = base + slope * n.y
    values: dict[str, Any] = {
        "u_hemi_base": tuple(ambient + 0.5 * (sky + ground)),
        "u_hemi_slope": tuple(0.5 * (sky - ground)),
    }
    for prefix, items in (("u_dir_light", dirs), ("u_point_light", points)):
        if items:
            values[f"{prefix}_vec"] = np.array([v for v, _ in items], "f4").tobytes()
            values[f"{prefix}_color"] = np.array([c for _, c in items], "f4").tobytes()
    return {"DIR_LIGHTS": len(dirs), "POINT_LIGHTS": len(points)}, values


def _uniform(program: moderngl.Program, name: str) -> moderngl.Uniform | None:
    """The uniform ``name``, or ``None`` where the compiler dropped it."""
    member = program[name] if name in program else None
    return member if isinstance(member, moderngl.Uniform) else None


def _set(program: moderngl.Program, name: str, value: Any) -> None:
    """Set a uniform if the compiler kept it; ``bytes`` are written raw."""
    member = _uniform(program, name)
    if member is None:
        return
    if isinstance(value, bytes):
        member.write(value)
    else:
        member.value = value


class Renderer:
    def __init__(
        self,
        ctx: moderngl.Context,
        geometry: SceneGeometry,
        lights: Sequence[Light] = (),
        *,
        background: Sequence[float] = (0.62, 0.70, 0.78),
        srgb_output: bool = True,
        point_size: float = 3.0,
        highlight_color: Sequence[float] = (1.0, 0.72, 0.2),
        culling: bool = True,
    ) -> None:
        """``culling=False`` draws every instance in every view (the same pixels)."""
        self.ctx = ctx
        self.geometry = geometry
        #: whether draw() culls instances against the views' frustums
        self.culling = culling
        #: instance-buffer rewrites of compacted (partly visible) batches so far
        self.instance_writes = 0
        defines, light_values = _light_uniforms(lights)
        # the mesh program with emissive + highlight, and without for batches none of
        # whose machines glows this frame (same pixels, one varying less)
        self._mesh = load_program(ctx, "mesh", {**defines, "GLOW": 1})
        self._plain = load_program(ctx, "mesh", {**defines, "GLOW": 0})
        self._points = load_program(ctx, "points")
        # textured batches have programs of their own, so untextured drawing pays nothing
        textured: tuple[moderngl.Program, moderngl.Program] | None = None
        if any(b.mesh.textured for b in geometry.batches):
            textured = (
                load_program(ctx, "mesh", {**defines, "GLOW": 1, "TEXTURED": 1}),
                load_program(ctx, "mesh", {**defines, "GLOW": 0, "TEXTURED": 1}),
            )
        meshes = (self._mesh, self._plain, *(textured or ()))
        self._programs = (*meshes, self._points)
        self._visuals = VisualsTexture(ctx, geometry.machine_count)
        self._background = tuple(float(c) for c in background)[:3]

        # base colour textures, each image uploaded once for all batches (chunks, nodes)
        self._textures: TextureCache = {}
        ready: list[tuple[GpuBatch, Batch]] = []
        for b in geometry.batches:
            uploaded = upload_batch(
                ctx, b, self._mesh, self._points, self._plain, textured, self._textures
            )
            if uploaded is not None:
                ready.append((uploaded, b))
        opaque = [pair for pair in ready if not pair[0].translucent]
        translucent = [pair for pair in ready if pair[0].translucent]
        self._opaque: tuple[GpuBatch, ...] = tuple(g for g, _ in opaque)
        self._translucent: tuple[GpuBatch, ...] = tuple(g for g, _ in translucent)
        self._all = self._opaque + self._translucent
        placed = [b for _, b in opaque + translucent]  # the scene batches, as in _all
        self._culler = InstanceCulling(
            [math3d.transform_bounds(b.matrices, b.mesh.bounds) for b in placed],
            [not g.points for g in self._all],
        )
        # what compaction writes: column-major model matrices and machine indices
        self._rows = [
            (np.ascontiguousarray(b.matrices.transpose(0, 2, 1), np.float32), b.machine)
            for b in placed
        ]
        self._batch_triangles = np.array([g.triangles for g in self._all], dtype=np.int64)
        # draw calls per batch: one per texture range of a textured batch
        self._batch_calls = np.array([g.draw_calls for g in self._all], dtype=np.int64)
        # every drawn instance's machine (fixtures: one past the last machine, never
        # glowing), batch after batch as in _all, and where each batch starts
        n = geometry.machine_count
        owners = [np.where(b.machine >= 0, b.machine, n) for b in placed]
        self._instance_machine = (
            np.concatenate(owners).astype(np.intp) if owners else np.zeros(0, np.intp)
        )
        self._batch_starts = np.cumsum([0] + [g.instances for g in self._all[:-1]], dtype=np.intp)

        for name, value in light_values.items():
            for prog in meshes:
                _set(prog, name, value)
        for prog in self._programs:
            _set(prog, "u_visuals", _VISUALS_UNIT)
            _set(prog, "u_highlight_color", tuple(float(c) for c in highlight_color))
        _set(self._points, "u_point_size", float(point_size))
        self.srgb_output = srgb_output

        uses_points = any(g.points for g in self._all)
        uses_mesh = any(not g.points for g in self._all)
        used = (*((prog, uses_mesh) for prog in meshes), (self._points, uses_points))
        self._vp_uniforms = tuple(
            u for prog, on in used if on and (u := _uniform(prog, "u_view_proj")) is not None
        )
        self._eye_uniforms = tuple(
            u for prog in meshes if uses_mesh and (u := _uniform(prog, "u_eye")) is not None
        )

    @property
    def texture_count(self) -> int:
        """Base colour textures on the GPU (one per distinct image and sampler)."""
        return len(self._textures)

    @property
    def srgb_output(self) -> bool:
        return self._srgb_output

    @srgb_output.setter
    def srgb_output(self, value: bool) -> None:
        self._srgb_output = bool(value)
        for prog in self._programs:
            _set(prog, "u_srgb", self._srgb_output)
        bg = (
            self._background if value else tuple(float(c) for c in srgb_to_linear(self._background))
        )
        self._clear_color = (bg[0], bg[1], bg[2], 1.0)

    @property
    def clear_color(self) -> tuple[float, float, float, float]:
        """The RGBA the views are cleared to, as stored in the framebuffer."""
        return self._clear_color

    def _glowing(
        self, visuals: MachineVisuals | None, visible: np.ndarray | None = None
    ) -> list[bool]:
        """Per batch (in ``_all`` order): does any of its ``visible`` instances' machines
        (all instances when None) glow (emissive or highlight not zero)?"""
        if visuals is None or not self._all:
            return [False] * len(self._all)
        # a machine's glow texel as two 64-bit words: any bit set (-0.0 and NaN included)
        # takes the glow program, which draws every such value as before
        words = visuals.data.view(np.uint64)[: visuals.count, 1]
        lit = np.zeros(visuals.count + 1, dtype=bool)
        np.not_equal(words[:, 0] | words[:, 1], 0, out=lit[:-1])
        shown = lit[self._instance_machine]
        if visible is not None:
            shown &= visible
        flags: list[bool] = np.logical_or.reduceat(shown, self._batch_starts).tolist()
        return flags

    def _compact(self, plan: FramePlan) -> None:
        """Write the instance buffers of the batches whose drawn set changed."""
        for b, rows in self._culler.writes(plan):
            model, machine = self._rows[b]
            if rows is None:
                self._all[b].write_instances(model, machine)
            else:
                self._all[b].write_instances(model[rows], machine[rows])
            self.instance_writes += 1

    def draw(self, views: Sequence[View], visuals: MachineVisuals | None = None) -> FrameStats:
        """Clear each view's viewport and draw every batch it may see into it."""
        start = time.perf_counter()
        gl_s = 0.0
        ctx = self.ctx
        self._visuals.upload(visuals)
        plan = self._culler.plan([v.view_projection for v in views], self.culling)
        self._compact(plan)
        glowing = self._glowing(visuals, plan.visible)
        counts = plan.counts.tolist()
        # per batch: the instance count to draw, None for all of them
        drawn = [None if c == g.instances else c for c, g in zip(counts, self._all, strict=True)]
        split = len(self._opaque)
        self._visuals.use(_VISUALS_UNIT)
        ctx.enable(moderngl.DEPTH_TEST | moderngl.PROGRAM_POINT_SIZE)
        ctx.disable(moderngl.CULL_FACE | moderngl.BLEND)
        default_target = ctx.fbo
        for v, view in enumerate(views):
            seen = plan.seen[v].tolist()
            opaque = [(self._all[b], glowing[b], drawn[b]) for b in range(split) if seen[b]]
            translucent = [
                (self._all[b], glowing[b], drawn[b]) for b in range(split, len(seen)) if seen[b]
            ]
            target = view.framebuffer if view.framebuffer is not None else default_target
            if target is None:
                raise RuntimeError("no framebuffer bound and the view names none")
            target.use()
            ctx.viewport = view.viewport
            vp = view.view_projection.T.tobytes()
            for uniform in self._vp_uniforms:
                uniform.write(vp)
            if self._eye_uniforms:
                eye = np.array(view.eye_position, dtype=np.float32).tobytes()
                for uniform in self._eye_uniforms:
                    uniform.write(eye)
            t0 = time.perf_counter()
            target.clear(color=self._clear_color, depth=1.0, viewport=view.viewport)
            for batch, glow, count in opaque:
                batch.render(glow, count)
            gl_s += time.perf_counter() - t0
            if translucent:
                ctx.enable(moderngl.BLEND)
                ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
                target.depth_mask = False
                t0 = time.perf_counter()
                for batch, glow, count in translucent:
                    batch.render(glow, count)
                gl_s += time.perf_counter() - t0
                target.depth_mask = True
                ctx.disable(moderngl.BLEND)
        per_view = max(len(views), 1)
        instances = plan.seen * plan.counts  # (views, batches)
        return FrameStats(
            views=len(views),
            draw_calls=int((plan.seen * self._batch_calls).sum()) // per_view,
            instances=int(instances.sum()) // per_view,
            triangles=int((instances * self._batch_triangles).sum()) // per_view,
            prepare_s=time.perf_counter() - start - gl_s,
            culled=plan.culled,
        )

    def release(self) -> None:
        for batch in self._all:
            batch.release()
        self._visuals.release()
        for texture in self._textures.values():
            texture.release()
        self._textures.clear()
        for prog in self._programs:
            prog.release()
        self._opaque = self._translucent = self._all = ()
