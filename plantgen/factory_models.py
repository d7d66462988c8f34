"""Procedural factory models: machines, racks, floor and walls as multi-part trimesh scenes.

Every model is in metres, Y up, front facing +Z, with its origin at the floor centre of its
footprint. Each part is a separate named node with its own PBR material, so an exported GLB
holds several meshes and several materials. Part vertices are split at creases and carry
normals, so hard edges stay hard once exported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import trimesh

from plantgen.shapes import (
    DEFAULT_STYLE,
    FINISHES,
    Finish,
    PartBuilder,
    Style,
    Trimesh,
    Vec,
    ball,
    beam,
    box,
    cyl,
    prism,
    revolve_y,
    ring,
    rotated,
)

__all__ = ["DEFAULT_STYLE", "FINISHES", "MODELS", "Finish", "Style", "build", "export_glb"]


def _signal_tower(b: PartBuilder, x: float, y: float, z: float) -> None:
    n = b.n
    b.add("signal_tower", "steel", cyl((x, y, z), (x, y + 0.16, z), 0.02, n))
    b.add("signal_tower", "steel", cyl((x, y + 0.40, z), (x, y + 0.43, z), 0.04, n))
    for k, colour in enumerate(("green", "amber", "red")):
        y0 = y + 0.16 + 0.08 * k
        b.add(f"signal_{colour}", f"signal_{colour}", cyl((x, y0, z), (x, y0 + 0.075, z), 0.04, n))


def _panel(b: PartBuilder, x0: float, x1: float, y0: float, y1: float, z: float) -> None:
    """A control panel on a wall whose front face is at ``z``: housing, screen, e-stop."""
    b.add("control_panel", "machine_grey", box((x0, y0, z), (x1, y1, z + 0.1)))
    b.add(
        "screen", "screen", box((x0 + 0.05, y1 - 0.38, z + 0.1), (x1 - 0.05, y1 - 0.05, z + 0.11))
    )
    keys = [
        box((x0 + 0.06 + 0.07 * i, y0 + 0.12, z + 0.1), (x0 + 0.11 + 0.07 * i, y0 + 0.16, z + 0.12))
        for i in range(int((x1 - x0 - 0.2) / 0.07))
    ]
    b.add("control_keys", "cast", *keys)
    xs = x1 - 0.08
    b.add(
        "e_stop", "signal_red", cyl((xs, y0 + 0.08, z + 0.1), (xs, y0 + 0.08, z + 0.15), 0.03, b.n)
    )


# ---- machines --------------------------------------------------------------------------


def cnc_mill(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Enclosed vertical machining centre, 2.6 x 2.2 m footprint, 2.6 m (3.0 with tower)."""
    b = PartBuilder(style)
    n = b.n
    b.add("base", "cast", box((-1.1, 0.0, -1.0), (1.1, 0.55, 0.6)))
    b.add("column", "machine_grey", box((-0.45, 0.55, -1.0), (0.45, 2.45, -0.38)))
    b.add("column", "machine_grey", box((-0.35, 0.55, -0.38), (0.35, 2.3, -0.3)))
    b.add("spindle_head", "accent", box((-0.3, 1.55, -0.5), (0.3, 2.25, 0.12)))
    b.add("spindle_head", "accent", cyl((0.0, 2.25, -0.2), (0.0, 2.52, -0.2), 0.16, n))
    b.add("spindle", "steel", cyl((0.0, 1.3, -0.05), (0.0, 1.55, -0.05), 0.09, n))
    b.add("spindle", "steel", cyl((0.0, 1.12, -0.05), (0.0, 1.3, -0.05), 0.035, n))
    b.add("saddle", "machine_grey", box((-0.5, 0.55, -0.55), (0.5, 0.75, 0.45)))
    b.add("table", "steel", box((-0.8, 0.75, -0.4), (0.8, 0.87, 0.35)))
    vice = [
        box((-0.2, 0.87, -0.16), (0.2, 0.95, 0.16)),
        box((-0.2, 0.95, -0.16), (0.2, 1.04, -0.1)),
        box((-0.2, 0.95, 0.04), (0.2, 1.04, 0.1)),
        cyl((0.0, 0.91, 0.16), (0.0, 0.91, 0.3), 0.02, n),
    ]
    b.add("vice", "cast", *vice)
    b.add("workpiece", "steel", box((-0.12, 0.95, -0.1), (0.12, 1.02, 0.04)))
    # enclosure: corner posts, rails, skirt, back, roof; glass door and side windows
    frame = [
        box(
            (sx * 1.3 - 0.04 * (sx + 1), 0.0, sz * 1.1 - 0.04 * (sz + 1)),
            (sx * 1.3 - 0.04 * (sx - 1), 2.6, sz * 1.1 - 0.04 * (sz - 1)),
        )
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    frame += [
        box((-1.3, 0.0, 1.02), (1.3, 0.95, 1.1)),
        box((-1.3, 2.35, 1.02), (1.3, 2.56, 1.1)),
        box((0.5, 0.95, 1.02), (1.26, 2.35, 1.1)),
        box((-1.3, 0.0, -1.1), (1.3, 2.56, -1.02)),
    ]
    for sx in (-1, 1):
        frame += [
            box((sx * 1.3 - 0.04 * (sx + 1), 0.0, -1.06), (sx * 1.3 - 0.04 * (sx - 1), 0.95, 1.06)),
            box((sx * 1.3 - 0.04 * (sx + 1), 2.3, -1.06), (sx * 1.3 - 0.04 * (sx - 1), 2.56, 1.06)),
        ]
    frame.append(box((-1.3, 2.56, -1.1), (1.3, 2.6, 1.1)))
    frame.append(box((-1.22, 0.95, 1.06), (-1.16, 2.35, 1.12)))
    frame.append(box((0.42, 0.95, 1.06), (0.5, 2.35, 1.12)))
    b.add("enclosure", "paint", *frame)
    b.add(
        "trim",
        "accent",
        box((-1.3, 2.4, 1.1), (1.3, 2.5, 1.12)),
        box((-1.3, 0.05, 1.1), (1.3, 0.12, 1.12)),
    )
    b.add("door_handle", "steel", box((0.3, 1.3, 1.12), (0.34, 1.9, 1.18)))
    glass = [
        box((-1.16, 0.95, 1.05), (0.42, 2.35, 1.07)),
        box((-1.29, 0.95, -0.95), (-1.27, 2.3, 0.95)),
        box((1.27, 0.95, -0.95), (1.29, 2.3, 0.95)),
    ]
    b.add("window", "glass", *glass)
    _panel(b, 0.6, 1.2, 1.15, 1.95, 1.1)
    _signal_tower(b, 1.1, 2.6, -0.9)
    return b.scene()


def lathe(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """CNC flat-bed lathe, 3.0 x 1.1 m footprint, spindle axis 1.2 m above the floor."""
    b = PartBuilder(style, paint=(0.70, 0.70, 0.64, 1.0), accent=(0.05, 0.32, 0.22, 1.0))
    n, ay = b.n, 1.2
    b.add(
        "stand",
        "paint",
        box((-1.5, 0.0, -0.45), (-0.7, 0.8, 0.45)),
        box((0.8, 0.0, -0.4), (1.5, 0.8, 0.4)),
    )
    b.add("chip_tray", "machine_grey", box((-1.5, 0.8, -0.55), (1.5, 0.86, 0.55)))
    b.add("bed", "cast", box((-1.45, 0.86, -0.3), (1.45, 1.0, 0.3)))
    b.add(
        "ways",
        "steel",
        box((-1.45, 1.0, -0.26), (1.45, 1.04, -0.16)),
        box((-1.45, 1.0, 0.16), (1.45, 1.04, 0.26)),
    )
    b.add("headstock", "accent", box((-1.45, 1.0, -0.35), (-0.8, 1.58, 0.35)))
    b.add("headstock", "accent", cyl((-1.3, 1.58, -0.15), (-1.3, 1.72, -0.15), 0.12, n))
    b.add("chuck", "steel", cyl((-0.8, ay, 0.0), (-0.66, ay, 0.0), 0.16, n))
    jaws = [
        rotated(
            box((-0.66, ay + 0.03, -0.02), (-0.62, ay + 0.13, 0.02)),
            120.0 * k,
            (1.0, 0.0, 0.0),
            (0.0, ay, 0.0),
        )
        for k in range(3)
    ]
    b.add("chuck_jaws", "cast", *jaws)
    b.add("workpiece", "steel", cyl((-0.62, ay, 0.0), (-0.2, ay, 0.0), 0.03, n))
    b.add("tailstock", "accent", box((0.75, 1.04, -0.2), (1.1, 1.36, 0.2)))
    b.add("tailstock", "accent", cyl((1.1, ay, 0.0), (1.18, ay, 0.0), 0.03, n))
    b.add("quill", "steel", cyl((0.45, ay, 0.0), (0.75, ay, 0.0), 0.04, n))
    b.add("handwheel", "cast", ring((1.18, ay, 0.0), (1.0, 0.0, 0.0), 0.09, 0.012, n))
    carriage = [
        box((-0.25, 1.04, -0.3), (0.15, 1.1, 0.3)),
        box((-0.3, 0.86, 0.3), (0.2, 1.1, 0.4)),
        box((-0.15, 1.1, -0.2), (0.05, 1.16, 0.2)),
        box((-0.11, 1.16, 0.04), (0.01, 1.26, 0.16)),
    ]
    b.add("carriage", "machine_grey", *carriage)
    b.add("tool", "steel", box((-0.07, 1.18, -0.02), (-0.03, 1.21, 0.06)))
    b.add("leadscrew", "steel", cyl((-1.45, 0.95, 0.34), (1.45, 0.95, 0.34), 0.015, n // 2))
    guard = [
        box((-1.45, 1.0, -0.52), (1.45, 1.75, -0.48)),
        box((-0.8, 1.72, -0.52), (1.45, 1.76, 0.5)),
        box((1.41, 1.04, -0.52), (1.45, 1.76, 0.5)),
    ]
    b.add("chip_guard", "paint", *guard)
    b.add("guard_window", "glass", box((-0.8, 1.1, 0.47), (1.41, 1.72, 0.49)))
    _panel(b, -1.45, -0.95, 1.1, 1.72, 0.35)
    _signal_tower(b, -1.3, 1.76, -0.4)
    return b.scene()


def press(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Straight-side mechanical press, 3.0 x 2.4 m footprint, 4.9 m high."""
    b = PartBuilder(style, paint=(0.10, 0.25, 0.42, 1.0), accent=(0.90, 0.62, 0.0, 1.0))
    n = b.n
    b.add("base", "paint", box((-1.3, 0.0, -0.9), (1.3, 0.95, 0.9)))
    b.add(
        "uprights",
        "paint",
        box((-1.3, 0.95, -0.8), (-0.85, 3.6, 0.8)),
        box((0.85, 0.95, -0.8), (1.3, 3.6, 0.8)),
    )
    b.add("crown", "paint", box((-1.4, 3.6, -0.95), (1.4, 4.5, 0.95)))
    b.add(
        "gibs",
        "steel",
        box((-0.85, 1.9, -0.6), (-0.8, 3.4, 0.6)),
        box((0.8, 1.9, -0.6), (0.85, 3.4, 0.6)),
    )
    b.add("ram", "machine_grey", box((-0.8, 2.35, -0.6), (0.8, 3.05, 0.6)))
    b.add(
        "connection_rods",
        "steel",
        cyl((-0.4, 3.05, 0.0), (-0.4, 3.6, 0.0), 0.09, n),
        cyl((0.4, 3.05, 0.0), (0.4, 3.6, 0.0), 0.09, n),
    )
    b.add("bolster", "steel", box((-0.9, 0.95, -0.7), (0.9, 1.1, 0.7)))
    die = [
        box((-0.6, 1.1, -0.45), (0.6, 1.2, 0.45)),
        box((-0.6, 2.25, -0.45), (0.6, 2.35, 0.45)),
        box((-0.35, 1.2, -0.3), (0.35, 1.36, 0.3)),
        box((-0.35, 2.09, -0.3), (0.35, 2.25, 0.3)),
    ]
    die += [
        cyl((sx * 0.5, 1.2, sz * 0.35), (sx * 0.5, 2.25, sz * 0.35), 0.03, n // 2)
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    b.add("die_set", "cast", *die)
    b.add("flywheel", "cast", cyl((1.4, 4.05, 0.0), (1.6, 4.05, 0.0), 0.6, n + 4))
    b.add("drive_motor", "machine_grey", cyl((-0.5, 4.5, -0.3), (0.3, 4.5, -0.3), 0.22, n))
    b.add("drive_motor", "machine_grey", box((-0.5, 4.5, 0.1), (0.3, 4.9, 0.6)))
    curtain = [box((sx * 1.0 - 0.05, 0.0, 0.95), (sx * 1.0 + 0.05, 2.0, 1.05)) for sx in (-1, 1)]
    curtain += [box((sx * 1.0 - 0.12, 0.0, 0.88), (sx * 1.0 + 0.12, 0.02, 1.12)) for sx in (-1, 1)]
    b.add("light_curtain", "accent", *curtain)
    optics = [
        box((-0.95, 0.3, 0.97), (-0.93, 1.9, 1.03)),
        box((0.93, 0.3, 0.97), (0.95, 1.9, 1.03)),
    ]
    b.add("curtain_optics", "rubber", *optics)
    b.add("console_post", "machine_grey", box((1.35, 0.0, 1.05), (1.45, 0.95, 1.15)))
    b.add("console", "accent", box((1.15, 0.95, 0.95), (1.65, 1.15, 1.25)))
    b.add("e_stop", "signal_red", cyl((1.4, 1.15, 1.1), (1.4, 1.2, 1.1), 0.035, n))
    b.add(
        "palm_buttons",
        "signal_green",
        cyl((1.22, 1.15, 1.1), (1.22, 1.19, 1.1), 0.03, n),
        cyl((1.58, 1.15, 1.1), (1.58, 1.19, 1.1), 0.03, n),
    )
    _signal_tower(b, -1.2, 4.5, 0.8)
    return b.scene()


def _off(p: Vec, dx: float, dy: float, dz: float) -> Vec:
    return (p[0] + dx, p[1] + dy, p[2] + dz)


def _robot(b: PartBuilder, x: float, z: float, y: float) -> None:
    """Six-axis arm on a pedestal at (x, z) whose top is at ``y``, reaching toward +Z."""
    n, side = b.n, (1.0, 0.0, 0.0)
    b.add("pedestal", "machine_grey", box((x - 0.35, 0.0, z - 0.35), (x + 0.35, y, z + 0.35)))
    b.add("base", "accent", cyl((x, y, z), (x, y + 0.2, z), 0.3, n))
    j2 = (x, y + 0.5, z)
    b.add(
        "shoulder",
        "accent",
        cyl((x, y + 0.2, z), (x, y + 0.45, z), 0.25, n),
        box((x - 0.2, y + 0.3, z - 0.22), (x + 0.2, y + 0.6, z + 0.18)),
    )
    j3 = _off(j2, 0.0, 0.85, 0.25)
    wrist = _off(j3, 0.0, -0.1, 0.85)
    b.add("upper_arm", "accent", beam(_off(j2, 0.29, 0, 0), _off(j3, 0.29, 0, 0), 0.16, 0.24, side))
    b.add(
        "joint_motors",
        "machine_grey",
        cyl(_off(j2, 0.2, 0, 0), _off(j2, 0.38, 0, 0), 0.13, n),
        cyl(_off(j3, 0.2, 0, 0), _off(j3, 0.38, 0, 0), 0.11, n),
    )
    b.add(
        "forearm",
        "accent",
        beam(_off(j3, 0.1, 0, -0.3), _off(wrist, 0.1, 0, 0), 0.2, 0.18, side),
        box(_off(j3, -0.05, -0.13, -0.45), _off(j3, 0.25, 0.13, -0.2)),
    )
    flange = _off(wrist, 0.1, -0.08, 0.0)
    g = _off(flange, 0.0, -0.12, 0.0)
    b.add(
        "wrist",
        "machine_grey",
        cyl(wrist, _off(wrist, 0.2, 0, 0), 0.08, n),
        cyl(flange, g, 0.05, n),
    )
    b.add(
        "gripper",
        "steel",
        box(_off(g, -0.09, -0.07, -0.05), _off(g, 0.09, 0.0, 0.05)),
        box(_off(g, -0.08, -0.2, -0.03), _off(g, -0.055, -0.07, 0.03)),
        box(_off(g, 0.055, -0.2, -0.03), _off(g, 0.08, -0.07, 0.03)),
    )


def robot_cell(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Fenced robot cell, 4 x 4 m: arm on a pedestal, work table, controller, open door bay."""
    b = PartBuilder(style, accent=(0.95, 0.33, 0.0, 1.0))
    h = 2.0
    posts: list[Trimesh] = []
    mesh: list[Trimesh] = []
    for k in range(5):
        t = -2.0 + k
        for px, pz in ((t, -2.0), (t, 2.0), (-2.0, t), (2.0, t)):
            posts.append(box((px - 0.03, 0.0, pz - 0.03), (px + 0.03, h, pz + 0.03)))
    for k in range(4):
        t0, t1 = -2.0 + k + 0.03, -1.0 + k - 0.03
        sides = [("z", -2.0), ("x", -2.0), ("x", 2.0)] + ([("z", 2.0)] if k != 2 else [])
        for axis, c in sides:
            if axis == "z":
                lo, hi = (t0, 0.15, c - 0.01), (t1, h - 0.05, c + 0.01)
                rails = [
                    box((t0, 0.12, c - 0.02), (t1, 0.16, c + 0.02)),
                    box((t0, h - 0.06, c - 0.02), (t1, h - 0.02, c + 0.02)),
                ]
            else:
                lo, hi = (c - 0.01, 0.15, t0), (c + 0.01, h - 0.05, t1)
                rails = [
                    box((c - 0.02, 0.12, t0), (c + 0.02, 0.16, t1)),
                    box((c - 0.02, h - 0.06, t0), (c + 0.02, h - 0.02, t1)),
                ]
            mesh.append(box(lo, hi))
            posts.extend(rails)
    b.add("fence_posts", "safety_yellow", *posts)
    b.add("fence_panels", "fence_mesh", *mesh)
    table = [box((-0.8, 0.82, 0.55), (0.8, 0.88, 1.45))]
    table += [
        box((sx * 0.75 - 0.03, 0.0, sz - 0.03), (sx * 0.75 + 0.03, 0.82, sz + 0.03))
        for sx in (-1, 1)
        for sz in (0.6, 1.4)
    ]
    b.add("table", "machine_grey", *table)
    b.add("fixture", "steel", box((-0.3, 0.88, 0.8), (0.3, 0.95, 1.2)))
    b.add("workpiece", "paint", box((-0.15, 0.95, 0.9), (0.15, 1.05, 1.1)))
    _robot(b, 0.0, -0.5, 0.5)
    b.add("controller", "paint", box((1.2, 0.0, -1.9), (1.9, 1.6, -1.4)))
    b.add("screen", "screen", box((1.3, 1.2, -1.4), (1.8, 1.5, -1.39)))
    _signal_tower(b, 1.8, 1.6, -1.8)
    return b.scene()


def conveyor(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Powered roller conveyor segment, 4.0 m along X, 0.86 m wide, rollers top 0.92 m."""
    b = PartBuilder(style, paint=(0.12, 0.28, 0.55, 1.0))
    n = max(8, min(b.n, 24))
    rails = [box((-2.0, 0.78, sz * 0.4 - 0.03), (2.0, 0.96, sz * 0.4 + 0.03)) for sz in (-1, 1)]
    b.add("side_rails", "paint", *rails)
    rollers = [
        cyl((-1.9375 + 0.125 * i, 0.89, -0.37), (-1.9375 + 0.125 * i, 0.89, 0.37), 0.03, n)
        for i in range(32)
    ]
    b.add("rollers", "steel", *rollers)
    legs: list[Trimesh] = []
    for lx in (-1.85, 0.0, 1.85):
        legs += [
            box((lx - 0.03, 0.0, sz * 0.38 - 0.03), (lx + 0.03, 0.78, sz * 0.38 + 0.03))
            for sz in (-1, 1)
        ]
        legs.append(box((lx - 0.02, 0.25, -0.35), (lx + 0.02, 0.29, 0.35)))
        legs += [
            box((lx - 0.06, 0.0, sz * 0.38 - 0.06), (lx + 0.06, 0.01, sz * 0.38 + 0.06))
            for sz in (-1, 1)
        ]
    b.add("legs", "machine_grey", *legs)
    b.add("motor_box", "machine_grey", box((1.2, 0.5, 0.43), (1.7, 0.78, 0.62)))
    b.add(
        "motor",
        "accent",
        cyl((1.45, 0.64, 0.62), (1.45, 0.64, 0.95), 0.09, n),
        box((1.55, 0.58, 0.66), (1.7, 0.7, 0.8)),
    )
    b.add(
        "end_guards",
        "safety_yellow",
        box((-2.02, 0.78, -0.43), (-1.98, 0.96, 0.43)),
        box((1.98, 0.78, -0.43), (2.02, 0.96, 0.43)),
    )
    return b.scene()


def storage_rack(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Two-bay pallet rack, 5.6 x 1.1 m footprint, 5.0 m high, pallets on three levels."""
    b = PartBuilder(style, accent=(0.05, 0.16, 0.45, 1.0))
    uprights: list[Trimesh] = []
    for fx in (-2.76, 0.0, 2.76):
        uprights += [
            box((fx - 0.04, 0.0, sz * 0.5 - 0.04), (fx + 0.04, 5.0, sz * 0.5 + 0.04))
            for sz in (-1, 1)
        ]
        for k in range(6):
            y0, y1 = 0.15 + 0.8 * k, 0.95 + 0.8 * k
            sz = 1 if k % 2 else -1
            uprights.append(beam((fx, y0, -sz * 0.46), (fx, y1, sz * 0.46), 0.03, 0.03, (1, 0, 0)))
    b.add("uprights", "accent", *uprights)
    beams: list[Trimesh] = []
    pallets: list[Trimesh] = []
    cartons: list[Trimesh] = []
    rng = np.random.default_rng(7)
    for bay_x in (-1.38, 1.38):
        for level, y in enumerate((0.0, 1.7, 3.4)):
            if level:
                beams += [
                    box(
                        (bay_x - 1.34, y - 0.12, sz * 0.54 - 0.03),
                        (bay_x + 1.34, y, sz * 0.54 + 0.03),
                    )
                    for sz in (-1, 1)
                ]
            for p in (-0.88, 0.0, 0.88):
                px, py = bay_x + p, y
                if rng.random() < 0.15:
                    continue
                pallets.append(box((px - 0.4, py + 0.1, -0.6), (px + 0.4, py + 0.144, 0.6)))
                pallets += [
                    box((px + s * 0.35 - 0.05, py, -0.6), (px + s * 0.35 + 0.05, py + 0.1, 0.6))
                    for s in (-1, 0, 1)
                ]
                height = float(rng.choice((0.4, 0.8, 1.2)))
                for cz in (-0.3, 0.3):
                    top = py + 0.144 + height * (0.75 if cz > 0 and rng.random() < 0.4 else 1.0)
                    cartons.append(
                        box((px - 0.38, py + 0.144, cz - 0.28), (px + 0.38, top, cz + 0.28))
                    )
    b.add("beams", "beam_orange", *beams)
    b.add("pallets", "wood", *pallets)
    b.add("cartons", "cardboard", *cartons)
    return b.scene()


def tank(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Vertical process vessel, 1.6 m diameter, dished heads, on legs; 3.9 m high."""
    b = PartBuilder(style)
    n = b.n + 4
    r, y0, y1 = 0.8, 1.0, 3.2
    bottom = [(r * np.sin(t), y0 - 0.2 * np.cos(t)) for t in np.linspace(0.0, np.pi / 2, 6)]
    top = [(r * np.cos(t), y1 + 0.4 * np.sin(t)) for t in np.linspace(0.0, np.pi / 2, 8)]
    b.add(
        "vessel",
        "stainless",
        revolve_y([(0.0, y0 - 0.2), *bottom[1:], *top[:-1], (0.0, y1 + 0.4)], n),
    )
    bands = [
        revolve_y([(r - 0.01, y), (r + 0.02, y), (r + 0.02, y + 0.08), (r - 0.01, y + 0.08)], n)
        for y in (1.3, 2.8)
    ]
    b.add("bands", "accent", *bands)
    legs: list[Trimesh] = []
    for k in range(4):
        a = np.pi / 4 + k * np.pi / 2
        lx, lz = 0.72 * np.cos(a), 0.72 * np.sin(a)
        legs.append(cyl((lx, 0.02, lz), (lx, y0 + 0.3, lz), 0.05, b.n))
        legs.append(box((lx - 0.1, 0.0, lz - 0.1), (lx + 0.1, 0.02, lz + 0.1)))
    b.add("legs", "machine_grey", *legs)
    ladder = [box((1.0, 0.0, sz * 0.22 - 0.025), (1.05, 3.7, sz * 0.22 + 0.025)) for sz in (-1, 1)]
    ladder += [cyl((1.025, 0.3 * k, -0.2), (1.025, 0.3 * k, 0.2), 0.015, 8) for k in range(1, 12)]
    ladder += [box((0.8, 3.0 - 1.2 * k, -0.05), (1.0, 3.04 - 1.2 * k, 0.05)) for k in range(3)]
    b.add("ladder", "safety_yellow", *ladder)
    b.add(
        "manway",
        "stainless",
        cyl((0.0, 3.5, 0.0), (0.0, 3.75, 0.0), 0.22, n),
        cyl((0.0, 3.75, 0.0), (0.0, 3.8, 0.0), 0.27, n),
    )
    pipes = [
        cyl((-0.4, 3.45, 0.0), (-0.4, 3.95, 0.0), 0.05, b.n),
        ball((-0.4, 3.95, 0.0), 0.05),
        cyl((-0.4, 3.95, 0.0), (-1.1, 3.95, 0.0), 0.05, b.n),
        ball((-1.1, 3.95, 0.0), 0.05),
        cyl((-1.1, 3.95, 0.0), (-1.1, 0.9, 0.0), 0.05, b.n),
        cyl((-1.1, 0.9, 0.0), (-1.1, 0.86, 0.0), 0.09, b.n),
        cyl((0.0, y0 - 0.15, 0.0), (0.0, 0.45, 0.0), 0.06, b.n),
        ball((0.0, 0.45, 0.0), 0.06),
        cyl((0.0, 0.45, 0.0), (0.0, 0.45, 1.3), 0.06, b.n),
        cyl((0.0, 0.45, 1.25), (0.0, 0.45, 1.3), 0.1, b.n),
    ]
    b.add("pipes", "steel", *pipes)
    b.add(
        "valve",
        "signal_red",
        cyl((0.0, 0.45, 0.82), (0.0, 0.45, 0.98), 0.09, b.n),
        cyl((0.0, 0.45, 0.9), (0.0, 0.68, 0.9), 0.02, 8),
    )
    b.add("handwheel", "cast", ring((0.0, 0.68, 0.9), (0.0, 1.0, 0.0), 0.12, 0.012, b.n))
    b.add("level_gauge", "glass", cyl((0.0, 1.2, -0.86), (0.0, 3.0, -0.86), 0.025, 8))
    return b.scene()


def agv(style: Style = DEFAULT_STYLE) -> trimesh.Scene:
    """Automated guided vehicle, 0.8 x 1.3 m, 0.34 m high deck, driving toward +Z."""
    b = PartBuilder(style, paint=(0.92, 0.60, 0.0, 1.0), accent=(0.15, 0.16, 0.17, 1.0))
    c = 0.12
    outline = [
        (-0.6, -0.4 + c),
        (-0.6 + c, -0.4),
        (0.6 - c, -0.4),
        (0.6, -0.4 + c),
        (0.6, 0.4 - c),
        (0.6 - c, 0.4),
        (-0.6 + c, 0.4),
        (-0.6, 0.4 - c),
    ]  # (z, x)
    b.add("chassis", "paint", prism(outline, "y", 0.06, 0.3))
    b.add("deck", "accent", box((-0.33, 0.3, -0.45), (0.33, 0.34, 0.42)))
    wheels = [cyl((sx * 0.36, 0.1, 0.0), (sx * 0.42, 0.1, 0.0), 0.1, b.n) for sx in (-1, 1)]
    wheels += [
        cyl((sx * 0.3 - 0.02, 0.05, sz * 0.45), (sx * 0.3 + 0.02, 0.05, sz * 0.45), 0.05, b.n)
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    b.add("wheels", "rubber", *wheels)
    b.add(
        "bumper",
        "rubber",
        box((-0.36, 0.08, 0.6), (0.36, 0.18, 0.65)),
        box((-0.36, 0.08, -0.65), (0.36, 0.18, -0.6)),
    )
    b.add(
        "lidar",
        "cast",
        cyl((0.0, 0.3, 0.52), (0.0, 0.36, 0.52), 0.055, b.n),
        cyl((0.0, 0.36, 0.52), (0.0, 0.4, 0.52), 0.045, b.n),
    )
    b.add("lidar_window", "screen", cyl((0.0, 0.4, 0.52), (0.0, 0.42, 0.52), 0.05, b.n))
    b.add("warning_light", "signal_amber", cyl((0.3, 0.3, -0.5), (0.3, 0.4, -0.5), 0.035, b.n))
    b.add(
        "status_light",
        "signal_green",
        box((-0.405, 0.22, -0.35), (-0.4, 0.25, 0.35)),
        box((0.4, 0.22, -0.35), (0.405, 0.25, 0.35)),
    )
    b.add(
        "emergency_stops",
        "signal_red",
        cyl((-0.3, 0.3, 0.5), (-0.3, 0.34, 0.5), 0.025, b.n),
        cyl((0.3, 0.3, -0.35), (0.3, 0.34, -0.35), 0.025, b.n),
    )
    return b.scene()


# ---- building fixtures -----------------------------------------------------------------


class Strip(NamedTuple):
    """A floor marking from (x0, z0) to (x1, z1), axis-aligned; ``dash`` > 0 makes it dashed."""

    x0: float
    z0: float
    x1: float
    z1: float
    width: float = 0.1
    dash: float = 0.0


def aisle(x0: float, z0: float, x1: float, z1: float) -> list[Strip]:
    """Edge lines and a dashed centre line of an aisle spanning the given rectangle."""
    if abs(x1 - x0) >= abs(z1 - z0):
        zc = (z0 + z1) / 2.0
        return [Strip(x0, z0, x1, z0), Strip(x0, z1, x1, z1), Strip(x0, zc, x1, zc, 0.08, 1.0)]
    xc = (x0 + x1) / 2.0
    return [Strip(x0, z0, x0, z1), Strip(x1, z0, x1, z1), Strip(xc, z0, xc, z1, 0.08, 1.0)]


def _demo_lanes() -> list[Strip]:
    lanes = [
        s
        for a in (
            (-29.0, -8.0, 14.5, -5.0),
            (-29.0, 4.0, 14.5, 7.0),
            (-29.0, 13.5, 29.0, 16.5),
            (14.5, -19.0, 17.5, 13.5),
        )
        for s in aisle(*a)
    ]
    edge = 0.8
    lanes += [
        Strip(-30 + edge, -20 + edge, 30 - edge, -20 + edge),
        Strip(-30 + edge, 20 - edge, 30 - edge, 20 - edge),
        Strip(-30 + edge, -20 + edge, -30 + edge, 20 - edge),
        Strip(30 - edge, -20 + edge, 30 - edge, 20 - edge),
    ]
    return lanes


#: floor markings of the demo plant's 60 x 40 m hall (its layout lives in ``synthetic``)
DEMO_LANES: tuple[Strip, ...] = tuple(_demo_lanes())
DEMO_WALKWAYS: tuple[Strip, ...] = (
    Strip(-29.0, 17.4, 29.0, 17.4, 1.2),
    Strip(-5.0, 17.4, -5.0, 19.9, 1.2),
    Strip(-29.0, -19.0, -29.0, 17.4, 1.2),
)


def _strip_boxes(s: Strip, y: float) -> list[Trimesh]:
    h = s.width / 2.0
    horizontal = abs(s.x1 - s.x0) >= abs(s.z1 - s.z0)
    a0, a1 = (
        (min(s.x0, s.x1), max(s.x0, s.x1)) if horizontal else (min(s.z0, s.z1), max(s.z0, s.z1))
    )
    spans = [(a0, a1)]
    if s.dash > 0.0:
        starts = np.arange(a0, a1, 2.0 * s.dash)
        spans = [(float(t), float(min(t + s.dash, a1))) for t in starts]
    if horizontal:
        return [box((t0, 0.0, s.z0 - h), (t1, y, s.z0 + h)) for t0, t1 in spans]
    return [box((s.x0 - h, 0.0, t0), (s.x0 + h, y, t1)) for t0, t1 in spans]


def floor(
    width: float = 60.0,
    depth: float = 40.0,
    lanes: Sequence[Strip] = DEMO_LANES,
    walkways: Sequence[Strip] = DEMO_WALKWAYS,
    style: Style = DEFAULT_STYLE,
) -> trimesh.Scene:
    """Concrete slab (top at y = 0) with raised yellow lane lines and green walkways."""
    b = PartBuilder(style)
    b.add("slab", "concrete", box((-width / 2, -0.2, -depth / 2), (width / 2, 0.0, depth / 2)))
    b.add("walkways", "walkway_green", *[m for s in walkways for m in _strip_boxes(s, 0.006)])
    b.add("lane_markings", "lane_yellow", *[m for s in lanes for m in _strip_boxes(s, 0.01)])
    return b.scene()


def wall(
    door: bool = False, length: float = 10.0, height: float = 6.0, style: Style = DEFAULT_STYLE
) -> trimesh.Scene:
    """Hall wall segment along X (0.2 m thick), plinth, ribbed cladding, window band, columns.

    ``door`` cuts a 4 x 4.2 m roll-up door into the middle.
    """
    b = PartBuilder(style, accent=(0.10, 0.22, 0.38, 1.0))
    L, t = length / 2.0, 0.1
    w0, w1 = 4.6, 5.4  # window band
    dx = 2.0 if door else 0.0
    spans = [(-L, -dx), (dx, L)] if door else [(-L, L)]
    plinth = [box((a, 0.0, -t - 0.03), (c, 1.0, t + 0.03)) for a, c in spans]
    b.add("plinth", "concrete", *plinth)
    clad = [box((a, 1.0, -t), (c, w0, t)) for a, c in spans]
    clad.append(box((-L, w1, -t), (L, height, t)))
    if door:
        clad.append(box((-dx, 4.55, -t), (dx, w0, t)))
    ribs = [
        box((x - 0.03, y0, t), (x + 0.03, y1, t + 0.03))
        for x in np.arange(-L + 0.25, L, 0.5)
        for y0, y1 in ((1.0, w0), (w1, height))
        if not (door and abs(x) < dx + 0.05 and y0 < w0)
    ]
    b.add("cladding", "cladding", *clad, *ribs)
    b.add("window", "glass", box((-L, w0, -0.02), (L, w1, 0.02)))
    mullions = [box((x - 0.03, w0, -0.05), (x + 0.03, w1, 0.05)) for x in np.linspace(-L, L, 9)]
    mullions += [box((-L, y - 0.03, -0.05), (L, y + 0.03, 0.05)) for y in (w0, w1)]
    b.add("mullions", "steel", *mullions)
    cols = [box((x0, 0.0, t), (x1, height, t + 0.3)) for x0, x1 in ((-L, -L + 0.24), (L - 0.24, L))]
    b.add("columns", "accent", *cols)
    b.add("flashing", "accent", box((-L, height, -t - 0.05), (L, height + 0.12, t + 0.05)))
    if door:
        slats = [box((-dx, 0.0, -0.04), (dx, 4.2, 0.04))]
        slats += [box((-dx, y, 0.04), (dx, y + 0.04, 0.06)) for y in np.arange(0.2, 4.2, 0.25)]
        b.add("door", "door", *slats)
        b.add(
            "door_housing", "machine_grey", box((-dx - 0.15, 4.2, t), (dx + 0.15, 4.55, t + 0.45))
        )
        guides = [
            box((-dx - 0.15, 0.0, t), (-dx, 4.2, t + 0.2)),
            box((dx, 0.0, t), (dx + 0.15, 4.2, t + 0.2)),
        ]
        b.add("door_guides", "machine_grey", *guides)
        bollards = [
            cyl((sx * (dx + 0.35), 0.0, t + 0.4), (sx * (dx + 0.35), 1.2, t + 0.4), 0.08, b.n)
            for sx in (-1, 1)
        ]
        b.add("bollards", "safety_yellow", *bollards)
    return b.scene()


def wall_door() -> trimesh.Scene:
    return wall(door=True)


#: the committed models, by asset name
MODELS: dict[str, Callable[[], trimesh.Scene]] = {
    "cnc_mill": cnc_mill,
    "lathe": lathe,
    "press": press,
    "robot_cell": robot_cell,
    "conveyor": conveyor,
    "storage_rack": storage_rack,
    "tank": tank,
    "agv": agv,
    "floor": floor,
    "wall": wall,
    "wall_door": wall_door,
}

#: machine models (not building fixtures), with a style argument
MACHINE_BUILDERS: dict[str, Callable[[Style], trimesh.Scene]] = {
    "cnc_mill": cnc_mill,
    "lathe": lathe,
    "press": press,
    "robot_cell": robot_cell,
    "conveyor": conveyor,
    "storage_rack": storage_rack,
    "tank": tank,
    "agv": agv,
}


def build(name: str) -> trimesh.Scene:
    """Build the committed model ``name`` (a key of :data:`MODELS`)."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise KeyError(f"no factory model named '{name}' (known: {', '.join(MODELS)})") from None
    return builder()


def export_glb(scene: trimesh.Scene) -> bytes:
    """GLB bytes of a model, with vertex normals."""
    data = trimesh.exchange.gltf.export_glb(scene, include_normals=True)  # type: ignore[no-untyped-call]  # trimesh ships no type information
    return bytes(data)


def triangle_count(scene: trimesh.Scene) -> int:
    return sum(len(g.faces) for g in scene.geometry.values())
