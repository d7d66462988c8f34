"""What the billboard batches (text, shapes) share: argument checks and the draw loop.

Both draw one instanced call per view over the scene already in the views' targets:
premultiplied-alpha blending, depth tested against the scene without writing depth (a
``through`` flag in the shaders puts an instance on the near plane instead). The GL state
is left as the scene renderer expects it.
"""

from __future__ import annotations

from collections.abc import Sequence

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View

F32 = npt.NDArray[np.float32]


def uniform(program: moderngl.Program, name: str) -> moderngl.Uniform:
    member = program[name]
    if not isinstance(member, moderngl.Uniform):
        raise TypeError(f"shader member {name} is not a uniform")
    return member


def vec(values: Sequence[float], n: int, what: str) -> F32:
    """``n`` finite numbers as float32, or ValueError naming ``what``."""
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    if v.shape[0] != n or not np.isfinite(v).all():
        raise ValueError(f"{what} must be {n} finite numbers, got {values!r}")
    return v


def rgba(values: Sequence[float]) -> tuple[float, float, float, float]:
    """An RGB or RGBA colour, clipped to 0..1 (alpha 1 when omitted)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape[0] == 3:
        v = np.append(v, 1.0)
    if v.shape[0] != 4 or not np.isfinite(v).all():
        raise ValueError(f"colour must be 3 or 4 finite numbers, got {values!r}")
    c = np.clip(v, 0.0, 1.0)
    return float(c[0]), float(c[1]), float(c[2]), float(c[3])


def draw_views(
    ctx: moderngl.Context,
    vao: moderngl.VertexArray,
    instances: int,
    views: Sequence[View],
    program: moderngl.Program,
) -> int:
    """One instanced draw of ``vao`` per view (``u_view``, ``u_proj``, ``u_viewport_h`` set
    per view); returns the calls issued."""
    if instances == 0 or not views:
        return 0
    u_view, u_proj = uniform(program, "u_view"), uniform(program, "u_proj")
    u_height = uniform(program, "u_viewport_h")
    ctx.enable(moderngl.BLEND | moderngl.DEPTH_TEST)
    ctx.disable(moderngl.CULL_FACE)
    ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA
    default_target = ctx.fbo
    calls = 0
    try:
        for view in views:
            target = view.framebuffer if view.framebuffer is not None else default_target
            if target is None:
                raise RuntimeError("no framebuffer bound and the view names none")
            target.use()
            target.depth_mask = False
            try:
                ctx.viewport = view.viewport
                u_view.write(np.ascontiguousarray(view.view.T, dtype=np.float32))
                u_proj.write(np.ascontiguousarray(view.projection.T, dtype=np.float32))
                u_height.value = float(view.viewport[3])
                vao.render(instances=instances)
                calls += 1
            finally:
                target.depth_mask = True
    finally:
        ctx.disable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
    return calls
