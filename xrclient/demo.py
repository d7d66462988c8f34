"""What ``xrclient demo`` starts around the viewer, all on loopback and all stopped on exit.

- the plant simulator serving the demo plant's live state (two machines start jammed);
  control requests (the viewer's plant keys) only from the viewer, with a fresh token;
  with ``via`` the simulator is a plant instead (an OPC UA server, or a private mosquitto
  broker with plain topics or Sparkplug B) read by a gateway, whose stream the viewer
  reads (``gateway/sim_plant.py``; the gateway is read-only, so plant keys are refused);
- a session hub with a fresh secret and a database in a temporary folder, which you join
  as an expert;
- a scripted colleague (a trainee) in the same room, walking the hall and pointing now and
  then, so avatars, lasers and name tags have someone to show.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from xrclient.core.session_roles import Role
from xrclient.hub import tokens
from xrclient.hub.background import HubThread
from xrclient.hub.config import HubConfig
from xrclient.net.scripted_participant import ScriptedParticipant
from xrclient.net.session_client import SessionClient
from xrclient.scene.schema import load_scene
from xrclient.server.background import BackgroundServer
from xrclient.server.sim_service import build_simulator
from xrclient.server.twin_server import ServerConfig
from xrclient.session import SessionOptions

if TYPE_CHECKING:  # the plant chain needs the [plant] extra: imported only when used
    from xrclient.gateway.sim_plant import PlantChain, Via

#: faults the demo's simulator starts with, so its first picture shows alarms
DEMO_FAULTS = ("CNV-A3=jam", "RBT-B2=jam")
ROOM = "demo"
#: the scripted colleague walks a circle this wide (metres) around the middle of the hall
WALK_RADIUS_M = 9.0


class DemoServices:
    """Simulator, hub and a scripted colleague; ``twin_url`` and ``session`` for clients."""

    def __init__(
        self,
        scene_file: Path,
        seed: int = 0,
        *,
        with_session: bool = True,
        via: Via | None = None,
    ) -> None:
        self.scene_file = scene_file
        self.seed = seed
        self.with_session = with_session
        self.via = via
        self.twin: BackgroundServer | None = None
        self.chain: PlantChain | None = None
        self.hub: HubThread | None = None
        self.colleague: SessionClient | None = None
        self._folder: Path | None = None
        self._stop = threading.Event()
        self._walker: threading.Thread | None = None
        self._secret = secrets.token_bytes(32)
        #: the viewer presents this to the simulator, so its plant keys may control the
        #: plant while a web page or another local client may not
        self.twin_control_token = secrets.token_urlsafe(32)
        self.session: SessionOptions | None = None
        #: where the viewer records the stream so it can be scrubbed back
        self.history: Path | None = None

    @property
    def twin_url(self) -> str:
        if self.chain is not None:
            return self.chain.url
        assert self.twin is not None, "not started"
        return self.twin.url

    def start(self) -> DemoServices:
        scene = load_scene(self.scene_file)
        # the demo's faults where the scene has those machines (the shipped plant and the
        # hall model made from it do; another scene starts without faults)
        faults = tuple(f for f in DEMO_FAULTS if f.partition("=")[0] in scene.machine_index)
        if self.via is not None:
            from xrclient.gateway.sim_plant import PlantChain

            self.chain = PlantChain(self.scene_file, self.via, seed=self.seed, faults=faults)
            self.chain.start()
        else:
            sim = build_simulator(scene, self.seed, 0.0, faults, time.time())
            self.twin = BackgroundServer(
                sim, ServerConfig(port=0, rate_hz=10.0, control_token=self.twin_control_token)
            )
            self.twin.start()
        if not self.with_session:
            return self
        self._folder = Path(tempfile.mkdtemp(prefix="xrclient-demo-"))
        self.history = self._folder / "history.xrrec"
        self.hub = HubThread(HubConfig(db=self._folder / "hub.sqlite", secret=self._secret, port=0))
        self.hub.start()
        url = self.hub.room_url(ROOM)
        self.session = SessionOptions(url, self.token("you", Role.EXPERT), device="desktop")
        self.colleague = SessionClient(url, self.token("Tomas", Role.TRAINEE), device="headset")
        self.colleague.start()
        walker = ScriptedParticipant(
            self.colleague,
            machines=[m.id for m in scene.machines[:8]],
            seed=self.seed,
            radius=WALK_RADIUS_M,
        )
        self._walker = threading.Thread(
            target=self._walk, args=(walker,), name="demo-colleague", daemon=True
        )
        self._walker.start()
        return self

    def token(self, name: str, role: Role) -> str:
        return tokens.mint(self._secret, ROOM, name, role, ttl=12 * 3600.0)

    def _walk(self, walker: ScriptedParticipant) -> None:
        while not self._stop.wait(1.0 / 30.0):
            walker.step()

    def stop(self) -> None:
        self._stop.set()
        if self._walker is not None:
            self._walker.join(timeout=5)
            self._walker = None
        if self.colleague is not None:
            self.colleague.stop()
            self.colleague = None
        if self.hub is not None:
            self.hub.close()
            self.hub = None
        if self.twin is not None:
            self.twin.close()
            self.twin = None
        if self.chain is not None:
            self.chain.close()
            self.chain = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> DemoServices:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
