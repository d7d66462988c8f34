"""Rooms over real loopback connections: presence, notices, remote-expert messages,
convergence under random drops, persistence across restarts and a killed hub."""

from __future__ import annotations

import concurrent.futures
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xrclient.core.session_room import Annotation
from xrclient.hub import audit
from xrclient.hub.background import HubThread
from xrclient.hub.store import HubStore
from xrclient.net.scripted_participant import ScriptedParticipant
from xrclient.net.session_client import RequestRefused, SessionClient

from .helpers import AUDIT_KEY, FAST, HEAD_POSE, SECRET, client, running_hub, token, wait_until


def live(*clients: SessionClient) -> None:
    wait_until(lambda: all(c.status.state == "live" for c in clients), 10, "clients live")


def hub_annotations(hub: HubThread, room: str = "plant") -> dict[str, Annotation]:
    def get() -> dict[str, Annotation]:
        r = hub.hub.rooms.get(room) if hub.hub else None  # type: ignore[union-attr]  # the hub is running inside this block
        return dict(r.room.annotations) if r else {}

    return hub.call(get)


def test_presence_is_relayed_and_interpolated(tmp_path: Path) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite") as hub,
        client(hub, token(name="a"), device="headset") as a,
        client(hub, token(name="b", role="trainee")) as b,
    ):
        live(a, b)
        for k in range(10):
            x = 0.1 * k
            a.set_pose(
                [x, 1.7, 0, 0, 0, 0, 1],
                right=[x, 1.2, -0.3, 0, 0, 0, 1],
                point=[x, 1.2, -0.3, 0, 0, -1],
            )
            time.sleep(0.04)
        pid = a.room().you
        assert pid is not None
        wait_until(lambda: pid in b.poses() and b.poses()[pid].head[0] == pytest.approx(0.9), 5)
        got = b.poses(time.time() + 1.0)[pid]
        assert got.right is not None and got.point is not None and got.left is None
        assert got.point[5] == pytest.approx(-1.0)
        assert b.room().participants[pid].device == "headset"
        assert a.poses() == {}  # one's own presence is not among the others
        assert b.status.presence_frames > 0


def test_join_leave_and_lost_are_visible_to_everyone(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub, client(hub, token(name="watch")) as w:
        live(w)
        kinds: list[str] = []  # every notice the watcher gets, in order

        def seen(kind: str) -> bool:
            kinds.extend(n.kind for n in w.drain_notices())
            return kind in kinds

        with client(hub, token(name="temp", role="observer")) as t:
            live(t)
            wait_until(lambda: len(w.room().participants) == 2)
            t.drop_connection()  # no close handshake: looks like a network failure
            wait_until(lambda: seen("lost"), 5)
            wait_until(lambda: t.status.state == "live" and t.status.connects == 2, 5)
        wait_until(lambda: seen("left"), 5)
        lost = kinds.index("lost")
        assert "joined" in kinds[lost:]  # the reconnect is seen as a join
        assert kinds.index("left") > kinds.index("joined", lost)
        assert list(w.room().participants) == [w.room().you]


def test_late_joiners_get_the_full_state(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub, client(hub, token(name="e")) as e:
        live(e)
        ids = [
            e.create_annotation(f"M{k}", (k, 0, 0), f"note {k}").result(5).annotation
            for k in range(5)
        ]
        e.update_annotation(ids[0], status="resolved").result(5)
        e.delete_annotation(ids[1]).result(5)
        e.request("lead", on=True).result(5)
        e.set_pose(HEAD_POSE)
        time.sleep(0.1)
        with client(hub, token(name="late", role="observer")) as late:
            live(late)
            view = late.room()
            assert set(view.annotations) == set(ids) - {ids[1]}
            assert view.annotations[ids[0]].status == "resolved"
            assert view.annotations == e.room().annotations
            assert view.leader == e.room().you
            wait_until(lambda: e.room().you in late.poses(), 5)


def test_follow_summon_ping_and_chat(tmp_path: Path) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite") as hub,
        client(hub, token(name="exp")) as exp,
        client(hub, token(name="op", role="operator")) as op,
        client(hub, token(name="tr", role="trainee")) as tr,
    ):
        live(exp, op, tr)
        wait_until(lambda: len(tr.room().participants) == 3)
        e_pid, tr_pid = exp.room().you, tr.room().you
        exp.request("lead", on=True).result(5)
        tr.request("follow", leader=e_pid).result(5)
        wait_until(lambda: exp.room().participants[tr_pid].following == e_pid)  # type: ignore[index]  # the trainee has joined, so its pid is in the room
        exp.request("summon", targets=[tr_pid], pose=[5, 1.7, 5, 0, 0, 0, 1]).result(5)
        exp.request("ping", pos=[1, 2, 3], machine="M7").result(5)
        tr.request("chat", text="on my way").result(5)
        with pytest.raises(RequestRefused) as err:
            op.request("summon", pose=HEAD_POSE).result(5)
        assert err.value.code == "forbidden"
        seen: list = []  # type: ignore[type-arg]  # notices of several kinds
        wait_until(lambda: seen.extend(tr.drain_notices()) or any(n.kind == "chat" for n in seen))
        summons = [n for n in seen if n.kind == "summon"]
        assert len(summons) == 1 and summons[0].data["pose"][0] == 5.0
        pings = [n for n in seen if n.kind == "ping"]
        assert pings[0].data["pos"] == (1.0, 2.0, 3.0) and pings[0].data["machine"] == "M7"
        op_seen: list = []  # type: ignore[type-arg]  # notices of several kinds
        wait_until(
            lambda: op_seen.extend(op.drain_notices()) or any(n.kind == "ping" for n in op_seen)
        )
        assert not any(n.kind == "summon" for n in op_seen)  # only the target is summoned


def test_convergence_under_random_drops_and_restart(tmp_path: Path) -> None:
    rng = random.Random(7)
    db = tmp_path / "hub.sqlite"
    people = [
        ("ex", "expert"),
        ("op", "operator"),
        ("t1", "trainee"),
        ("t2", "trainee"),
        ("ob", "observer"),
    ]
    hub = HubThread(
        __import__("xrclient.hub.server", fromlist=["HubConfig"]).HubConfig(
            db=db, secret=SECRET, port=0
        )
    )
    port = hub.start()
    clients = [client(hub, token(name=n, role=r), seed=k) for k, (n, r) in enumerate(people)]
    try:
        for c in clients:
            c.start()
        live(*clients)
        outcomes = {"ok": 0, "refused": 0, "lost": 0}
        for step in range(160):
            c = rng.choice(clients)
            if rng.random() < 0.06:
                c.drop_connection()
                continue
            known = list(c.room().annotations)
            op = rng.random()
            if op < 0.45 or not known:
                fut = c.create_annotation(f"M{rng.randrange(9)}", (rng.random(), 0, 0), f"s{step}")
            elif op < 0.8:
                fut = c.update_annotation(
                    rng.choice(known), text=f"edit {step}", status=rng.choice(["open", "resolved"])
                )
            else:
                fut = c.delete_annotation(rng.choice(known))
            try:
                fut.result(5)
                outcomes["ok"] += 1
            except RequestRefused:
                outcomes["refused"] += 1
            except (ConnectionError, concurrent.futures.CancelledError):
                outcomes["lost"] += 1
        assert outcomes["ok"] > 30 and outcomes["refused"] > 5 and outcomes["lost"] > 0, outcomes
        live(*clients)
        truth = hub_annotations(hub)
        assert len(truth) > 5
        wait_until(lambda: all(c.room().annotations == truth for c in clients), 10, "converged")
        # the database holds exactly what everyone sees
        hub.stop()
        store = HubStore(db, AUDIT_KEY)
        assert {a.id: a for a in store.load("plant")} == truth
        store.close()
        assert audit.verify(db, AUDIT_KEY).ok
        hub.start(port)  # the same port: the clients come back by themselves
        wait_until(
            lambda: all(c.status.connects >= 2 and c.status.state == "live" for c in clients),
            15,
            "reconnected",
        )
        assert all(c.room().annotations == truth for c in clients)
    finally:
        for c in clients:
            c.stop()
        hub.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_hub_process(db: Path, secret: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xrclient",
            "hub",
            "--port",
            str(port),
            "--db",
            str(db),
            "--secret-file",
            str(secret),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "hub listening on ws://127.0.0.1:" in line, line
    return proc


def test_killed_hub_clients_show_loss_reconnect_and_resume(tmp_path: Path) -> None:
    secret = tmp_path / "hub.secret"
    secret.write_text(SECRET.hex())
    secret.chmod(0o600)
    db, port = tmp_path / "hub.sqlite", free_port()
    url = f"ws://127.0.0.1:{port}/plant"
    proc = start_hub_process(db, secret, port)
    a = SessionClient(url, token(name="a"), backoff=FAST, seed=1)
    b = SessionClient(url, token(name="b", role="trainee"), backoff=FAST, seed=2)
    try:
        a.start(), b.start()
        live(a, b)
        acked = {a.create_annotation("M1", text=f"a{k}").result(5).annotation for k in range(5)}
        acked.add(b.create_annotation("M2", text="b").result(5).annotation)
        proc.send_signal(signal.SIGKILL)  # no goodbye, no flush: only what was committed
        proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()
        wait_until(lambda: a.status.state != "live" and b.status.state != "live", 5)
        wait_until(lambda: a.status.retry_in is not None, 5)
        assert a.status.last_error
        time.sleep(0.3)  # a few failed attempts, backing off
        assert a.request("chat", text="x").exception(1) is not None
        proc = start_hub_process(db, secret, port)
        live(a, b)
        assert a.status.connects == 2 and b.status.connects == 2
        assert set(a.room().annotations) == acked == set(b.room().annotations)
        assert a.create_annotation("M3", text="after").result(5).annotation
    finally:
        a.stop()
        b.stop()
        proc.terminate()
        proc.wait(5)
        if proc.stdout:
            proc.stdout.close()
    assert audit.verify(db, AUDIT_KEY).ok
    assert os.stat(secret).st_mode & 0o077 == 0


def test_scripted_participant_moves_points_and_annotates(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub, client(hub, token(name="w")) as watcher:
        bot_client = client(hub, token(name="bot", role="trainee"), device="headless")
        bot = ScriptedParticipant(bot_client, machines=("M1", "M2"), seed=3, annotate_every=0.05)
        with bot_client:
            live(watcher, bot_client)
            t = 0.0
            while len([r for r in bot.requests if r.done()]) < 3:
                bot.step(t)  # a scripted clock: every step is 0.1 s of the walk
                t += 0.1
                time.sleep(0.01)
            pid = bot_client.room().you
            wait_until(lambda: pid in watcher.poses(), 5)
        notes = [r.result(5).annotation for r in bot.requests if r.done()]
        wait_until(lambda: set(notes) <= set(watcher.room().annotations), 5)
        assert {a.author for a in watcher.room().annotations.values()} == {"bot"}
        head, _, _ = bot.pose_at(0.0)
        assert math.hypot(head[0], head[2]) == pytest.approx(2.0)
        assert any(bot.pose_at(k)[2] is not None for k in range(10))
