"""``Settings``: everything a front end is built from, frozen, in one object.

The command line fills one ``Settings``; the composition root (:mod:`xrclient.app`) builds
the headless snapshot, the desktop viewer or the headset client from it. Fields that only
one front end reads say so; the others ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xrclient.scene.loaders import LoadLimits

if TYPE_CHECKING:
    from xrclient.live import TwinOptions
    from xrclient.session import SessionOptions


@dataclass(frozen=True, slots=True)
class Settings:
    scene: Path
    limits: LoadLimits = field(default_factory=LoadLimits)
    twin: TwinOptions | None = None
    session: SessionOptions | None = None
    #: a recording to scrub; with a live stream and a new file, the stream is recorded into it
    history: Path | None = None
    overlays: bool = True  # metric overlays over machines (with live state only)
    select: str | None = None  # machine id selected at the start (its detail panel shown)
    view: str | None = None  # the starting viewpoint (default: the scene's first)
    procedure: str | None = None  # a training procedure to run (file or shipped name)
    trainee: str = ""  # the name training results are stored under
    frames: int | None = None  # stop after this many frames (window, headset)
    # --- snapshot and window ---
    size: tuple[int, int] = (1280, 720)
    samples: int = 4  # multisampling
    # --- window ---
    vsync: bool = True
    record: Path | None = None  # write every frame as a PNG into this folder
    screenshots: Path = Path(".")  # where the screenshot key writes
    seconds: float | None = None  # stop after this long
    title: str | None = None
    # --- headset ---
    mixed_reality: bool = False
    mirror: bool = False
    space: str = "auto"  # reference space: auto (stage, local floor, local), stage, local
    #: seconds to wait for the twin's first state before entering the headset (0: don't)
    twin_wait: float = 0.0
    keep_frames: bool = False  # keep every frame's figures in the report (tests, benchmarks)
