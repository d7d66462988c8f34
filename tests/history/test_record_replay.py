"""Recording a real twin server from a real subprocess; replaying over a real WebSocket."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.net.sources import ScriptedSource, running_server, wait_until
from xrclient.core.twin_store import TwinStore
from xrclient.errors import XRClientError
from xrclient.history.format import RECORD, RecordingError
from xrclient.history.reader import Reader
from xrclient.history.replay_source import ReplaySource, serve_replay
from xrclient.live import LiveTwin, TwinOptions
from xrclient.server.twin_server import ServerConfig

from .helpers import START, demo_scene, record, same_store, sim_batches, store_after

BATCHES = sim_batches(30.0)


def recorder_process(url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "xrclient", "record", "--twin", url, "--out"]
    return subprocess.Popen(
        [*cmd, str(out), "--keyframe", "0.5", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def grows_past(path: Path, records: int) -> bool:
    if not path.exists() or path.stat().st_size < 64:
        return False
    with Reader(path) as reader:
        return len(reader.entries) >= records


@pytest.mark.timeout(60)
def test_recorder_killed_mid_write_leaves_a_replayable_file(tmp_path: Path) -> None:
    out = tmp_path / "killed.xrrec"
    source = ScriptedSource(n=40)
    source.changes_per_step = 30
    with running_server(source) as srv:
        proc = recorder_process(srv.url, out)
        try:
            wait_until(lambda: grows_past(out, 40), 30, "records on disk")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with Reader(out) as reader:
        n = reader.validate()
        assert n >= 39
        end = reader.end
        found = reader.state_at(end)
    assert found is not None
    # a half-written record on top (as a kill during a write leaves) is ignored
    data = out.read_bytes()
    with Reader(out) as reader:
        last = reader.entries[-1]
    half = tmp_path / "half.xrrec"
    half.write_bytes(data + data[last.offset : last.offset + RECORD.size + last.length // 2])
    with Reader(half) as reader:
        assert reader.truncated
        assert reader.validate() == n
        again = reader.state_at(end)
    assert again is not None
    a, b = TwinStore(source.schema.machines), TwinStore(source.schema.machines)
    a.apply(found[0], end)
    b.apply(again[0], end)
    assert same_store(a, b)


@pytest.mark.timeout(60)
def test_record_stops_cleanly_on_sigterm_with_the_served_values(tmp_path: Path) -> None:
    out = tmp_path / "term.xrrec"
    source = ScriptedSource(n=10)
    with running_server(source) as srv:
        proc = recorder_process(srv.url, out)
        try:
            wait_until(lambda: grows_past(out, 10), 30, "records on disk")
            source.frozen = True
            frozen = source.values.copy()
            time.sleep(0.3)  # let the last changes reach the recorder
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert f"wrote {out}" in stdout and "updates" in stderr
    with Reader(out) as reader:
        assert not reader.truncated
        found = reader.state_at(reader.end)
    assert found is not None
    store = TwinStore(source.schema.machines)
    store.apply(found[0], time.time())
    assert np.array_equal(store.value[:, 1], frozen[:, 1])


def test_record_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "exists.xrrec"
    out.write_bytes(b"keep me")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xrclient",
            "record",
            "--twin",
            "ws://127.0.0.1:9",
            "--out",
            str(out),
            "--seconds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "exists" in proc.stderr and out.read_bytes() == b"keep me"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "plant.xrrec"
    record(path, BATCHES, keyframe_s=5.0)
    return path


def test_replay_source_steps_through_the_recorded_states(recording: Path) -> None:
    source = ReplaySource(recording, speed=2.0)
    try:
        wall0 = 5_000_000.0
        for offset in (0.0, 3.3, 7.5, 14.0, 15.0, 29.0, 40.0):
            source.step(wall0 + offset / 2.0)
            expected = store_after(BATCHES, START + min(offset, 30.0))
            assert source.position == START + min(offset, 30.0)
            got = expected.value.copy()
            string_cols = [i for i, p in enumerate(expected.properties) if p.kind == "string"]
            for i in string_cols:  # compare texts
                name = expected.properties[i].name
                want = [expected.text(name, v) for v in expected.value[:, i]]
                have = [
                    None if np.isnan(v) else source.strings[i][int(v)] for v in source.values[:, i]
                ]
                assert have == want
                got[:, i] = source.values[:, i]
            assert np.array_equal(source.values, got, equal_nan=True)
            assert (source.source_time[~np.isnan(source.source_time)] <= wall0 + offset).all()
    finally:
        source.close()


def test_replay_refuses_bad_speed_and_control(recording: Path) -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplaySource(recording, speed=0.0)
    source = ReplaySource(recording)
    try:
        with pytest.raises(Exception, match="no control") as info:
            source.control({"action": "inject_fault"}, 0.0)
        assert getattr(info.value, "code", None) == "unknown_action"
    finally:
        source.close()


def test_corrupt_replay_file_is_a_clear_cli_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xrrec"
    bad.write_bytes(b"definitely not a recording")
    with pytest.raises(XRClientError, match="not an xrclient twin recording"):
        asyncio.run(serve_replay(bad, ServerConfig(port=0), 1.0, lambda _: None))
    with pytest.raises(RecordingError):
        ReplaySource(bad)


@pytest.mark.timeout(60)
def test_replay_served_over_websocket_reaches_the_client(recording: Path) -> None:
    source = ReplaySource(recording, speed=200.0)
    final = store_after(BATCHES, START + 30.0)
    try:
        with running_server(source) as srv, LiveTwin(demo_scene(), TwinOptions(srv.url)) as live:
            assert live.wait_for_state(20)

            def done() -> bool:
                live.update()
                return source.position == START + 30.0 and same_values(live.store, final)

            wait_until(done, 30, "the replay's final state at the client")
            assert live.status.state == "live"
    finally:
        source.close()


def same_values(a: TwinStore, b: TwinStore) -> bool:
    if a.schema != b.schema:
        return False
    for i, spec in enumerate(a.properties):
        if spec.kind == "string":
            if [a.text(spec.name, v) for v in a.value[:, i]] != [
                b.text(spec.name, v) for v in b.value[:, i]
            ]:
                return False
        elif not np.array_equal(a.value[:, i], b.value[:, i], equal_nan=True):
            return False
    return True


@pytest.mark.timeout(60)
def test_serve_replay_announces_and_stops_on_sigterm(recording: Path) -> None:
    lines: list[str] = []

    async def main() -> None:
        task = asyncio.create_task(serve_replay(recording, ServerConfig(port=0), 4.0, lines.append))
        while not lines:
            await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        await task

    asyncio.run(main())
    assert "replaying" in lines[0] and "at 4x" in lines[0]
    assert lines[-1].startswith("twin-sim: stopped")


def test_twin_sim_replay_serves_a_recording_to_a_real_client(tmp_path: Path) -> None:
    import re

    from xrclient.live import LiveTwin, TwinOptions

    path = tmp_path / "plant.xrrec"
    record(path, BATCHES)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xrclient",
            "twin-sim",
            "--replay",
            str(path),
            "--port",
            "0",
            "--speed",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(ws://127\.0\.0\.1:\d+)", line)
        assert match, (line, proc.stderr.read() if proc.stderr else "")
        scene = demo_scene()
        with LiveTwin(scene, TwinOptions(match.group(1))) as live:
            assert live.wait_for_state(20.0)
            live.update()
            assert live.store.n_machines == len(scene.machines)
            assert int(live.bindings.evaluate(live.store, time.time()).seen.sum()) > 0
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    bad = subprocess.run(
        [sys.executable, "-m", "xrclient", "twin-sim", "--replay", str(path), "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and "--speed must be 0.01 to 1000" in bad.stderr
