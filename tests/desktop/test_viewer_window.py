"""The desktop viewer in a real window on Xvfb, driven by real X input (xdotool)."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.display import XServer
from xrclient.desktop.viewer import Viewer
from xrclient.live import TwinOptions
from xrclient.resources import scene_path
from xrclient.settings import Settings

from .scenes import clickable
from .xwin import find_window, screenshot, until, xdotool

SIZE = (800, 450)
_titles = itertools.count()


def open_viewer(tmp_path: Path, twin: str | None = None, **extra: object) -> tuple[Viewer, str]:
    title = f"xrclient-test-{next(_titles)}"
    options = Settings(
        scene=scene_path("demo-plant"),
        twin=TwinOptions(twin) if twin else None,
        size=SIZE,
        vsync=False,
        title=title,
        screenshots=tmp_path,
        **extra,  # type: ignore[arg-type]  # extra holds the per-test Settings fields, typed by the caller
    )
    return Viewer(options), title


@pytest.fixture
def viewer(display: XServer, tmp_path: Path) -> Iterator[tuple[Viewer, str]]:
    v, title = open_viewer(tmp_path)
    try:
        wid = find_window(display.display, title, v.step)
        yield v, wid
    finally:
        v.close()


def dark_fraction(image: np.ndarray) -> float:
    """Share of pixels as dark as the HUD's panels."""
    return float((image.max(axis=2) < 80).mean())


def test_the_window_shows_the_plant_and_the_screenshot_key_saves_it(
    display: XServer, viewer: tuple[Viewer, str], tmp_path: Path
) -> None:
    v, wid = viewer
    for _ in range(3):
        v.step()
    shot = screenshot(display.display, wid)
    assert shot.shape == (SIZE[1], SIZE[0], 3)
    # the scene's first viewpoint looks over the hall: the lower half is plant, not sky
    sky = np.array([158, 178, 199])
    lower = shot[SIZE[1] // 2 :].reshape(-1, 3).astype(int)
    assert (np.abs(lower - sky).sum(axis=1) > 30).mean() > 0.8
    assert len(np.unique(lower // 16, axis=0)) > 40  # many materials and shades, not a fill
    # the HUD's status panel sits in the top-left corner
    assert dark_fraction(shot[15:60, 15:200]) > 0.5
    # F12 writes what the window shows
    xdotool(display.display, "windowfocus", "--sync", wid)
    xdotool(display.display, "key", "F12")
    until(lambda: bool(v.screenshots), v.step, "a screenshot")
    assert v.writer is not None
    v.writer.flush()
    with Image.open(v.screenshots[0]) as png:
        saved = np.asarray(png.convert("RGB"))
    assert saved.shape == shot.shape
    assert v.screenshots[0].parent == tmp_path
    # the same picture, but for the HUD's changing numbers
    assert np.abs(saved.astype(int) - shot.astype(int)).mean() < 6.0


def test_clicking_a_machine_selects_it_and_its_detail_panel_appears(
    display: XServer, tmp_path: Path, plant_sim: str
) -> None:
    v, title = open_viewer(tmp_path, twin=plant_sim)
    try:
        wid = find_window(display.display, title, v.step)
        until(lambda: v.live is not None and v.live.status.state == "live", v.step, "live state")
        for _ in range(3):
            v.step()
        targets = clickable(v.last_view, "CNC")
        assert targets, "no CNC mill is clickable from the first viewpoint"
        index, x, y = targets[0]
        before = screenshot(display.display, wid)
        xdotool(display.display, "mousemove", "--window", wid, str(int(x)), str(int(y)))
        xdotool(display.display, "click", "1")
        until(lambda: v.selected == index, v.step, f"machine {index} to be selected")
        for _ in range(2):
            v.step()
        after = screenshot(display.display, wid)
        changed = np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 40
        # the detail panel opens beside the machine (to its right, above its top)
        xi, yi = int(x), int(y)
        beside = changed[max(yi - 200, 0) : yi, xi : min(xi + 260, SIZE[0])]
        assert beside.mean() > 0.15
        # and the HUD shows the selection in the bottom-right corner
        assert dark_fraction(after[SIZE[1] - 90 : SIZE[1] - 20, SIZE[0] - 150 : SIZE[0] - 20]) > 0.4
        assert (
            dark_fraction(before[SIZE[1] - 90 : SIZE[1] - 20, SIZE[0] - 150 : SIZE[0] - 20]) < 0.2
        )
        # the alarm list names the jammed machines; clicking its first row flies there
        assert v.hud.hits, "no clickable alarm rows"
        row = v.hud.hits[0]
        jammed = row.action[1]
        xdotool(
            display.display,
            "mousemove",
            "--window",
            wid,
            str(int((row.x0 + row.x1) / 2)),
            str(int((row.y0 + row.y1) / 2)),
        )
        xdotool(display.display, "click", "1")
        until(lambda: v.selected == jammed, v.step, "the alarm row's machine to be selected")
        assert v.scene.machines[jammed].id in ("CNV-A3", "RBT-B2")
        until(lambda: not v.rig.flying, v.step, "the flight to end")
        b = v.geometry.machine_bounds[jammed]
        assert np.allclose(v.rig.target, (b[0] + b[1]) / 2, atol=1e-3)
    finally:
        v.close()


def test_resizing_keeps_the_picture_and_picking_right(
    display: XServer, viewer: tuple[Viewer, str]
) -> None:
    v, wid = viewer
    v.step()
    xdotool(display.display, "windowsize", "--sync", wid, "1000", "380")
    until(lambda: v.window.framebuffer_size == (1000, 380), v.step, "the new size")
    for _ in range(2):
        v.step()
    assert v.last_view.viewport == (0, 0, 1000, 380)
    assert v.last_view.projection[1, 1] / v.last_view.projection[0, 0] == pytest.approx(
        1000 / 380, rel=1e-4
    )
    shot = screenshot(display.display, wid)
    assert shot.shape == (380, 1000, 3)
    # the whole new area is drawn (an undrawn strip would be black)
    assert (shot[:, 800:].max(axis=2) > 20).mean() > 0.99
    assert (shot[300:].max(axis=2) > 20).mean() > 0.99
    # clicking where a machine now appears selects that machine
    index, x, y = clickable(v.last_view)[-1]
    xdotool(display.display, "mousemove", "--window", wid, str(int(x)), str(int(y)))
    xdotool(display.display, "click", "1")
    until(lambda: v.selected == index, v.step, "selection after the resize")


def test_keyboard_search_help_and_escape(display: XServer, viewer: tuple[Viewer, str]) -> None:
    v, wid = viewer
    v.step()
    xdotool(display.display, "windowfocus", "--sync", wid)
    xdotool(display.display, "type", "--delay", "20", "/prs-b4")
    until(lambda: v.ui.state.query == "prs-b4", v.step, "the search text")
    xdotool(display.display, "key", "Return")
    press = v.scene.machine_index["PRS-B4"]
    until(lambda: v.selected == press, v.step, "PRS-B4 to be selected")
    until(lambda: not v.rig.flying, v.step, "the flight to PRS-B4")
    b = v.geometry.machine_bounds[press]
    assert np.allclose(v.rig.target, (b[0] + b[1]) / 2, atol=1e-3)
    xdotool(display.display, "key", "question")
    until(lambda: v.ui.state.help, v.step, "the help overlay")
    v.step()
    shot = screenshot(display.display, wid)
    h, w = SIZE[1], SIZE[0]
    assert dark_fraction(shot[h // 2 - 60 : h // 2 + 60, w // 2 - 150 : w // 2 + 150]) > 0.6
    xdotool(display.display, "key", "Escape")
    until(lambda: not v.ui.state.help, v.step, "the help to close")
    xdotool(display.display, "key", "Escape")
    until(lambda: v.selected is None, v.step, "the selection to clear")


def test_the_frame_loop_never_waits_for_the_network(display: XServer, tmp_path: Path) -> None:
    # a server that accepts connections and then says nothing at all
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    url = f"ws://127.0.0.1:{listener.getsockname()[1]}"
    try:
        v, _title = open_viewer(tmp_path, twin=url)
        try:
            for _ in range(30):
                v.step()
            assert v.frame == 30
            assert v.live is not None and v.live.status.state != "live"
        finally:
            v.close()
        # closing stopped the twin client's thread
        assert not [t for t in threading.enumerate() if t.name == "twin-client"]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_record_writes_every_frame(display: XServer, tmp_path: Path) -> None:
    v, _title = open_viewer(tmp_path, record=tmp_path / "rec", frames=4)
    try:
        assert v.run() == 0
    finally:
        v.close()
    frames = sorted((tmp_path / "rec").glob("frame-*.png"))
    assert len(frames) == 4
    with Image.open(frames[-1]) as png:
        assert png.size == SIZE


def test_a_window_opens_after_off_screen_rendering_on_the_same_thread(
    display: XServer, tmp_path: Path
) -> None:
    from xrclient.backends.headless import HeadlessBackend

    # an EGL context current on this thread used to make GLX refuse the window's context
    backend = HeadlessBackend((64, 64), samples=0)
    backend.ctx.clear(1.0, 0.0, 0.0)
    backend.close()
    v, _title = open_viewer(tmp_path, frames=2)
    try:
        assert v.run() == 0
        assert v.read_rgb().shape == (SIZE[1], SIZE[0], 3)
    finally:
        v.close()
