"""Remote participants rendered headless (Mesa EGL): a pose sent by one participant
through a real hub shows up, with its laser, where it should in another's image."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.render.helpers import bbox, dominant, front_view, project, render_over, screen_bbox
from xrclient.backends.headless import HeadlessBackend
from xrclient.core import session_roles as roles
from xrclient.core.session_interp import SampledPose
from xrclient.core.session_room import Annotation
from xrclient.render.avatars import HEAD, Avatars
from xrclient.render.font import SdfFont, load_font
from xrclient.session import (
    PingMarker,
    PlacedAnnotation,
    RemoteParticipant,
    Session,
    SessionOptions,
    screen_indicator,
)

from .helpers import running_hub, token, wait_until

SIZE = (160, 120)
BLUE = 2


@pytest.fixture(scope="module")
def headless() -> Iterator[HeadlessBackend]:
    with HeadlessBackend(SIZE, samples=4) as backend:
        yield backend


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SdfFont:
    return load_font(cache_dir=tmp_path_factory.getbasetemp() / "font-cache")


def near(mask: np.ndarray, xy: tuple[float, float], radius: int = 1) -> bool:
    x, y = round(xy[0] - 0.5), round(xy[1] - 0.5)
    return bool(
        mask[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1].any()
    )


def test_remote_avatar_and_laser_from_a_live_session(
    tmp_path: Path, headless: HeadlessBackend, font: SdfFont
) -> None:
    head = [0.0, 0.8, 0.0, 0.0, 0.0, 0.0, 1.0]
    ray = [-1.2, -0.6, 0.0, 1.0, 0.0, 0.0]  # pointing along +x below the head
    with running_hub(tmp_path / "hub.sqlite") as hub:
        url = hub.room_url("plant")
        pointer = Session(SessionOptions(url, token(name="olga", role="operator"), "headset"))
        viewer = Session(SessionOptions(url, token(name="vic", role="observer")))
        with pointer, viewer:
            wait_until(lambda: pointer.status.state == viewer.status.state == "live")
            pointer.send_pose(head, point=ray)

            def seen() -> bool:
                viewer.update(time.time() + 1.0)  # past the interpolation delay
                return any(p.pose is not None for p in viewer.participants)

            wait_until(seen, 5, "the operator's presence")
    (olga,) = viewer.participants
    assert (olga.name, olga.role, olga.device) == ("olga", roles.Role.OPERATOR, "headset")
    view = front_view(headless)
    avatars = Avatars(headless.ctx, font)
    try:
        avatars.update(viewer.participants)
        img = render_over(headless, [view], avatars.draw)
    finally:
        avatars.release()
    blue = dominant(img, BLUE, by=40)
    h = SIZE[1]
    # the head: a box of the role colour where the head is, and nowhere much beyond it
    half = np.array(HEAD) / 2
    expected = screen_bbox(view, [np.array(head[:3]) - half, np.array(head[:3]) + half], SIZE, 0)
    top = blue.copy()
    top[int(project(view, (0, 0.3, 0), h)[1]) :, :] = False  # above the laser and the tag
    top[: int(project(view, (0, 0.95, 0), h)[1]), :] = False  # the tag
    got = bbox(top)
    assert near(blue, project(view, head[:3], h))
    assert all(abs(a - b) <= 2 for a, b in zip(got, expected, strict=True)), (got, expected)
    # the laser: along its ray from the hand origin to the image border, and not before it
    for x in (-1.0, 0.0, 1.0, 2.5):
        assert near(blue, project(view, (x, -0.6, 0.0), h)), x
    assert not near(blue, project(view, (-1.6, -0.6, 0.0), h), radius=2)
    assert not near(blue, project(view, (0.5, -0.3, 0.0), h), radius=1)
    # the name tag: light pixels just above the head
    tag = img[: int(project(view, (0, 1.05, 0), h)[1]), :].max(axis=2) > 150
    assert tag.sum() > 10


def test_desktop_participant_is_a_camera_frustum(headless: HeadlessBackend, font: SdfFont) -> None:
    # a desktop camera at the origin looking toward -x (turned 90 degrees left)
    q = (0.0, np.sin(np.pi / 4), 0.0, np.cos(np.pi / 4))
    pose = SampledPose(np.array([0.0, 0.0, 0.0, *q]), None, None, None)
    p = RemoteParticipant(
        7, "desk", roles.Role.OPERATOR, "desktop", (0.1, 0.3, 1.0, 1.0), pose, None
    )
    view = front_view(headless)
    avatars = Avatars(headless.ctx, font)
    try:
        avatars.update([p])
        img = render_over(headless, [view], avatars.draw)
    finally:
        avatars.release()
    blue = dominant(img, BLUE, by=40)
    h = SIZE[1]
    # the edges reach the far rectangle 0.35 m toward -x: its corners are drawn
    for y, z in ((0.12, 0.2), (-0.12, -0.2)):
        assert near(blue, project(view, (-0.35, y, z), h), radius=2)
    assert near(blue, project(view, (-0.175, 0.06, 0.1), h), radius=2)  # half way along one
    assert not near(blue, project(view, (0.35, 0.0, 0.0), h), radius=2)  # nothing behind it


def test_pins_pings_and_the_off_screen_arrow(headless: HeadlessBackend, font: SdfFont) -> None:
    ann = Annotation("a1", "M1", (0.0, 0.0, 0.0), "", "ana", "#ff0000", "open", 0.0, 0.0, 1)
    pin = PlacedAnnotation(ann, (-1.0, 0.0, 0.0))
    ping = PingMarker((1.0, 0.5, 0.0), "", 2, "ana", (0.0, 0.0, 1.0, 1.0), 0.0, 0.0)
    away = PingMarker((0.0, 0.0, 10.0), "", 2, "ana", (0.0, 1.0, 0.0, 1.0), 0.0, 0.0)  # behind
    view = front_view(headless)
    avatars = Avatars(headless.ctx, font)
    try:
        avatars.update([], [pin], [ping, away], view=view)
        img = render_over(headless, [view], lambda v: avatars.draw(v, now=0.0))
    finally:
        avatars.release()
    h = SIZE[1]
    assert near(dominant(img, 0, by=80), project(view, (-1.0, 0.0, 0.0), h))
    assert near(dominant(img, 2, by=80), project(view, (1.0, 0.5, 0.0), h))
    x, y, _, on_screen = screen_indicator(view.view_projection, view.viewport, away.position)
    assert not on_screen
    assert near(dominant(img, 1, by=80), (x, h - y), radius=6)
