"""The recording format: round trips, seeking, cut-off and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import TOUCH, UpdateBatch
from xrclient.history.format import FILE_HEADER, RECORD, RecordingError
from xrclient.history.reader import Reader
from xrclient.history.recorder import Recorder

from .helpers import START, demo_scene, record, same_store, sim_batches, store_after

BATCHES = sim_batches(40.0)


def state_from_reader(reader: Reader, t: float) -> TwinStore:
    store = TwinStore([m.id for m in demo_scene().machines])
    found = reader.state_at(t)
    assert found is not None
    batch, _ = found
    store.apply(batch, t)
    return store


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "plant.xrrec"
    record(path, BATCHES, keyframe_s=5.0)
    return path


@pytest.mark.parametrize("offset", [0.0, 0.2, 4.9, 5.0, 13.3, 25.0, 39.9, 40.0, 99.0])
def test_state_at_t_equals_recorded_state(recording: Path, offset: float) -> None:
    with Reader(recording) as reader:
        assert reader.start == START and reader.end == START + 40.0
        assert not reader.truncated
        got = state_from_reader(reader, START + offset)
    assert same_store(got, store_after(BATCHES, START + offset))


def test_state_differs_between_times(recording: Path) -> None:
    """The comparison above can fail: two different moments are different states."""
    with Reader(recording) as reader:
        a = state_from_reader(reader, START + 10.0)
    assert not same_store(a, store_after(BATCHES, START + 30.0))


def test_validate_reads_every_batch_and_keyframes_exist(recording: Path) -> None:
    with Reader(recording) as reader:
        kinds = [e.kind for e in reader.entries]
        assert reader.validate() == len(BATCHES) + kinds.count(2)
    assert kinds.count(3) == len(BATCHES)
    assert kinds.count(2) == 9  # a keyframe every 5 s of 40 s, the first one included
    assert kinds.count(1) == 1


def test_cut_off_file_replays_up_to_last_complete_record(recording: Path, tmp_path: Path) -> None:
    data = recording.read_bytes()
    with Reader(recording) as reader:
        entries = reader.entries
    rng = np.random.default_rng(5)
    for cut in [len(data) - 1, *rng.integers(entries[3].offset, len(data), 6)]:
        cut_path = tmp_path / f"cut{cut}.xrrec"
        cut_path.write_bytes(data[:cut])
        complete = [e for e in entries if e.offset + RECORD.size + e.length <= cut]
        last_t = max(e.time for e in complete if e.kind != 1)
        with Reader(cut_path) as reader:
            assert reader.truncated
            assert len(reader.entries) == len(complete)
            assert reader.end == last_t
            got = state_from_reader(reader, last_t + 100.0)
        assert same_store(got, store_after(BATCHES, last_t))


def test_last_record_with_bad_checksum_counts_as_cut_off(recording: Path, tmp_path: Path) -> None:
    data = bytearray(recording.read_bytes())
    data[-3] ^= 0xFF
    path = tmp_path / "tail.xrrec"
    path.write_bytes(bytes(data))
    with Reader(path) as reader:
        n = reader.validate()
        assert reader.truncated
    assert n >= len(BATCHES) - 1


def test_damage_in_the_middle_is_a_clear_error(recording: Path, tmp_path: Path) -> None:
    data = bytearray(recording.read_bytes())
    with Reader(recording) as reader:
        victim = reader.entries[len(reader.entries) // 2]
    data[victim.offset + RECORD.size + victim.length // 2] ^= 0x55
    path = tmp_path / "bad.xrrec"
    path.write_bytes(bytes(data))
    with Reader(path) as reader, pytest.raises(RecordingError, match="checksum mismatch"):
        reader.validate()


def test_damaged_header_in_the_middle_is_a_clear_error(recording: Path, tmp_path: Path) -> None:
    data = bytearray(recording.read_bytes())
    with Reader(recording) as reader:
        victim = reader.entries[5]
    data[victim.offset + 8] = 0x44  # an unknown record kind
    path = tmp_path / "badkind.xrrec"
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="damaged record header at byte"):
        Reader(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an xrclient twin recording"),
        (b"PK\x03\x04 a zip file, not ours", "not an xrclient twin recording"),
        (b"XRTWINREC", "header cut off"),
        (b"XRTWINREC\x07" + b"\x00" * 6, "format version 7"),
        (FILE_HEADER, "no complete record"),
        (FILE_HEADER + struct.pack("<IIBd", 3, 0, 3, 1.0) + b"abc", "before the schema"),
    ],
)
def test_foreign_or_empty_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.xrrec"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        Reader(path)


def test_out_of_range_codes_are_refused(tmp_path: Path) -> None:
    """An enum code past its values would crash a replay server: checked on reading."""
    path = tmp_path / "codes.xrrec"
    bad = UpdateBatch.build(SCHEMA, [0], [0], [7.0], 1000.0, snapshot=True, sent=1000.0)
    with Recorder(path) as rec:
        rec.write(bad)
    with Reader(path) as reader, pytest.raises(RecordingError, match="out of range"):
        reader.validate()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot open"):
        Reader(tmp_path / "none.xrrec")


def test_recorder_never_overwrites(recording: Path) -> None:
    with pytest.raises(FileExistsError):
        Recorder(recording)


def test_recording_starts_with_a_snapshot(tmp_path: Path) -> None:
    with Recorder(tmp_path / "a.xrrec") as rec, pytest.raises(ValueError, match="snapshot"):
        rec.write(BATCHES[1])


def test_reader_follows_a_file_being_written(tmp_path: Path) -> None:
    path = tmp_path / "growing.xrrec"
    rec = Recorder(path, keyframe_s=2.0)
    try:
        for b in BATCHES[:20]:
            rec.write(b)
        with Reader(path) as reader:
            first_end = reader.end
            for b in BATCHES[20:60]:
                rec.write(b)
            assert reader.refresh() > 0
            assert reader.end > first_end
            got = state_from_reader(reader, reader.end)
        assert same_store(got, store_after(BATCHES, BATCHES[59].sent))
    finally:
        rec.close()


SCHEMA = StreamSchema(
    ("A", "B", "C"),
    (
        PropertySpec("state", "enum", values=("RUN", "STOP")),
        PropertySpec("temp", "number", "C"),
        PropertySpec("prog", "string"),
    ),
)


@st.composite
def batches(draw: st.DrawFn) -> list[UpdateBatch]:
    n = draw(st.integers(1, 12))
    out = []
    t = 1000.0
    for k in range(n):
        t += draw(st.floats(0.0, 3.0, allow_nan=False))
        size = draw(st.integers(0 if k else 1, 8))
        m = draw(st.lists(st.integers(0, 2), min_size=size, max_size=size))
        p = draw(st.lists(st.integers(TOUCH, 2), min_size=size, max_size=size))
        texts = draw(st.lists(st.text(max_size=5), min_size=1, max_size=3))
        v = []
        for prop in p:
            if prop == 2:
                v.append(float(draw(st.integers(0, len(texts) - 1))))
            elif prop == 0:
                v.append(float(draw(st.integers(0, 1))))
            else:
                v.append(draw(st.floats(-1e6, 1e6, allow_nan=False)))
        out.append(
            UpdateBatch.build(SCHEMA, m, p, v, t, snapshot=k == 0, seq=k, sent=t, texts=texts)
        )
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=batches(), keyframe=st.floats(0.5, 5.0), cut=st.floats(0.0, 1.0))
def test_any_stream_round_trips_and_any_cut_reads(
    tmp_path: Path, data: list[UpdateBatch], keyframe: float, cut: float
) -> None:
    path = tmp_path / "h.xrrec"
    path.unlink(missing_ok=True)
    with Recorder(path, keyframe_s=keyframe) as rec:
        for b in data:
            rec.write(b)

    def reference(t: float) -> TwinStore:
        s = TwinStore(SCHEMA.machines)
        for b in data:
            if b.sent <= t:
                s.apply(b, b.sent)
        return s

    def replayed(reader: Reader, t: float) -> TwinStore:
        s = TwinStore(SCHEMA.machines)
        found = reader.state_at(t)
        assert found is not None
        s.apply(found[0], t)
        return s

    with Reader(path) as reader:
        for b in data:
            assert same_store(replayed(reader, b.sent), reference(b.sent))
    blob = path.read_bytes()
    cut_at = len(FILE_HEADER) + int(cut * (len(blob) - len(FILE_HEADER)))
    path.write_bytes(blob[:cut_at])
    try:
        reader = Reader(path)
    except RecordingError as exc:
        assert "no complete record" in str(exc)
        return
    with reader:
        kept = sum(e.kind == 3 for e in reader.entries)  # complete DELTA records
        found = reader.state_at(reader.end)
        if found is not None:  # a schema record alone holds no state
            expected = TwinStore(SCHEMA.machines)
            for b in data[:kept]:
                expected.apply(b, b.sent)
            assert same_store(replayed(reader, reader.end), expected)
