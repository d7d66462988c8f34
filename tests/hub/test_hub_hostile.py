"""Hostile clients against a real hub on loopback: fuzzed and property-generated frames
that must never crash it (no 1011, no traceback), and the budgets that hold one identity
and one room to their share: connections per token name, annotations per author and per
room (counts and bytes), and each room's fan-out."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

from xrclient.core import session_codec as codec
from xrclient.hub.background import HubThread

from .helpers import raw, recv_until, running_hub, send, token

#: generated cases, then a failing one as found (shrinking a live hub's case takes minutes)
QUICK = (Phase.explicit, Phase.generate)
#: the live hub's threads (websockets' masks and pings) use the ``random`` module while a
#: strategy draws, which Hypothesis would take for the strategy's own use of it
LIVE_THREADS_USE_RANDOM = pytest.mark.filterwarnings(
    "ignore::hypothesis.errors.HypothesisDeprecationWarning"
)
#: close codes a hostile frame may earn: policy (flooding) and too big; never 1011
ALLOWED_CLOSES = {1008, 1009}
KINDS = [
    "pose",
    "ann_create",
    "ann_update",
    "ann_delete",
    "lead",
    "follow",
    "summon",
    "ping",
    "chat",
    "timeline",
    "tr_progress",
    "tr_control",
    "tr_result",
    "tr_results",
    "welcome",
    "",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=8), inner, max_size=8)
    ),
    max_leaves=30,
)
fields = st.dictionaries(
    st.sampled_from(
        (
            "id ann text machine offset pos pose targets leader on mode time playing speed "
            "s h l r p result limit procedure step count completed status target action color"
        ).split()
    ),
    values,
    max_size=8,
)
messages = st.builds(lambda kind, doc: {**doc, "t": kind}, st.sampled_from(KINDS), fields)


class Prober:
    """One raw connection, reopened when the hub closes it (as it may, with 1008 or 1009);
    each probe ends with a request that must be answered, so the hub is still serving."""

    def __init__(self, hub: HubThread, tok: str) -> None:
        self.hub, self.tok = hub, tok
        self.ws = self._open()
        self.closes: list[int] = []
        self.rid = 10_000

    def _open(self) -> ClientConnection:
        ws = raw(self.hub, self.tok, max_size=2**24, legacy=True)  # reopened, not a block
        recv_until(ws, "welcome")
        return ws

    def probe(self, frame: bytes | str) -> None:
        try:
            self.ws.send(frame)
            self.rid += 1
            # a request every role may make, answered once what came before is handled
            send(self.ws, {"t": "follow", "id": self.rid, "leader": None})
            while True:
                frame = self.ws.recv(5)
                assert isinstance(frame, bytes)
                doc = codec.decode(frame)
                if doc["t"] == "ack" and doc.get("id") == self.rid:
                    return
        except ConnectionClosed:
            code = self.ws.close_code
            assert code in ALLOWED_CLOSES, code
            self.closes.append(code)
            self.ws = self._open()

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def hostile_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    db = tmp_path_factory.mktemp("hostile") / "hub.sqlite"
    with running_hub(db, rate=1e4, burst=20_000, max_per_name=64) as hub:
        yield hub


@pytest.fixture(scope="module")
def expert(hostile_hub: HubThread) -> Iterator[Prober]:
    p = Prober(hostile_hub, token(name="fuzz-expert", role="expert"))
    yield p
    p.close()


@pytest.fixture(scope="module")
def observer(hostile_hub: HubThread) -> Iterator[Prober]:
    p = Prober(hostile_hub, token(name="fuzz-observer", role="observer"))
    yield p
    p.close()


def _pack(doc: dict[str, Any]) -> bytes:
    out: bytes = msgpack.packb(doc, use_bin_type=True)
    return out


@LIVE_THREADS_USE_RANDOM
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
    phases=QUICK,
)
@given(doc=messages)
def test_generated_messages_never_crash_the_hub(expert: Prober, doc: dict[str, Any]) -> None:
    expert.probe(_pack(doc))


@LIVE_THREADS_USE_RANDOM
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
    phases=QUICK,
)
@given(doc=messages)
def test_generated_messages_from_an_observer(observer: Prober, doc: dict[str, Any]) -> None:
    observer.probe(_pack(doc))


@LIVE_THREADS_USE_RANDOM
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
    phases=QUICK,
)
@given(frame=st.binary(max_size=300) | st.text(max_size=100))
def test_random_bytes_and_text_frames(expert: Prober, frame: bytes | str) -> None:
    expert.probe(frame)


def test_mutated_valid_frames(expert: Prober) -> None:
    """Valid frames with random bytes flipped, cut short or doubled."""
    rng = random.Random(18)
    valid = [
        {"t": "chat", "id": 1, "text": "hello"},
        {"t": "ann_create", "id": 2, "machine": "M1", "offset": [0.0, 1.0, 0.0], "text": "x"},
        {"t": "pose", "s": 1.0, "h": [0.0, 1.7, 0.0, 0.0, 0.0, 0.0, 1.0]},
        {"t": "timeline", "id": 3, "mode": "past", "time": 5.0, "playing": True, "speed": 2.0},
        {"t": "tr_result", "id": 4, "result": {"procedure": "p", "events": [1] * 50}},
    ]
    for _ in range(300):
        frame = bytearray(_pack(rng.choice(valid)))
        how = rng.randrange(3)
        if how == 0:
            for _ in range(rng.randint(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
        elif how == 1:
            del frame[rng.randrange(1, len(frame)) :]
        else:
            frame = frame + bytes(frame)
        expert.probe(bytes(frame))
    huge = _pack({"t": "chat", "id": 5, "text": "x" * (codec.MAX_CLIENT_FRAME + 10)})
    expert.probe(huge)
    assert 1009 in expert.closes


def test_the_fuzzing_left_no_traceback(
    hostile_hub: HubThread, expert: Prober, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    nested = b"\x91" * 5000 + b"\xc0"  # deeply nested arrays
    for frame in (nested, b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff"):
        expert.probe(frame)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    stats = hostile_hub.call(lambda: hostile_hub.hub.stats)  # type: ignore[union-attr]  # the hub is running
    assert stats.invalid_messages > 0


# -- the identity and room budgets ---------------------------------------------------------


def _status(hub: HubThread, tok: str) -> int:
    with pytest.raises(InvalidStatus) as err:
        raw(hub, tok, legacy=True).close()
    return err.value.response.status_code


def test_connections_per_token_name_are_limited(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite", max_per_name=2) as hub:
        tok = token(name="mallory", role="observer")
        with raw(hub, tok) as a, raw(hub, tok) as b:
            recv_until(a, "welcome")
            recv_until(b, "welcome")
            assert _status(hub, tok) == 429
            assert _status(hub, token(name="mallory", role="trainee")) == 429  # the name counts
            with raw(hub, token(name="ana")) as other:  # everyone else still gets in
                recv_until(other, "welcome")
            with raw(hub, token(room="hall", name="mallory"), "hall") as elsewhere:  # per room
                recv_until(elsewhere, "welcome")
        with raw(hub, tok) as again:  # a place freed is a place again
            recv_until(again, "welcome")


def _create(ws: ClientConnection, rid: int, text: str) -> dict[str, Any]:
    send(ws, {"t": "ann_create", "id": rid, "machine": "M1", "offset": [0, 0, 0], "text": text})
    while True:
        frame = ws.recv(5)
        assert isinstance(frame, bytes)
        doc = codec.decode(frame)
        if doc["t"] in ("ack", "error") and doc.get("id") == rid:
            return doc


def test_annotation_budgets_per_author_and_per_room(tmp_path: Path) -> None:
    with running_hub(
        tmp_path / "hub.sqlite",
        max_author_annotations=3,
        max_author_bytes=4000,
        max_annotations=5,
        max_annotation_bytes=6000,
    ) as hub:
        with raw(hub, token(name="eve", role="trainee")) as eve, raw(hub, token(name="bo")) as bo:
            for ws in (eve, bo):
                recv_until(ws, "ann_page")
            ids = [_create(eve, k, "short")["ann"] for k in range(1, 4)]
            refused = _create(eve, 4, "one more")
            assert refused["t"] == "error" and refused["code"] == "limit"
            assert "an author has at most 3" in refused["message"]
            big = _create(bo, 5, "x" * 1990)
            assert big["t"] == "ack"  # another author has a budget of their own
            send(eve, {"t": "ann_update", "id": 6, "ann": ids[0], "text": "y" * 1990})
            assert recv_until(eve, "ack")["id"] == 6
            send(eve, {"t": "ann_update", "id": 7, "ann": ids[1], "text": "z" * 1990})
            error = recv_until(eve, "error")
            assert error["id"] == 7 and error["code"] == "limit"
            assert "bytes" in error["message"]  # the author's bytes, though the count is fine
            room_bytes = _create(bo, 8, "w" * 1990)
            assert (
                room_bytes["t"] == "error" and "a room's annotations take" in room_bytes["message"]
            )
            send(eve, {"t": "ann_delete", "id": 9, "ann": ids[0]})
            assert recv_until(eve, "ack")["id"] == 9
            assert _create(eve, 10, "after a delete")["t"] == "ack"  # deleting frees budget


def test_one_busy_room_does_not_starve_another(tmp_path: Path) -> None:
    with running_hub(
        tmp_path / "hub.sqlite", rate=1e4, burst=20_000, room_fanout=200.0, room_fanout_burst=400
    ) as hub:
        with (
            raw(hub, token(name="loud"), max_queue=None) as loud,
            raw(hub, token(name="crowd", role="observer"), max_queue=None) as crowd,
            raw(hub, token(room="calm", name="ana"), "calm") as calm,
        ):
            for ws in (loud, crowd, calm):
                recv_until(ws, "ann_page")
            for k in range(1, 600):
                send(loud, {"t": "chat", "id": k, "text": "spam"})
            replies: dict[int, dict[str, Any]] = {}
            while len(replies) < 599:
                frame = loud.recv(10)
                assert isinstance(frame, bytes)
                doc = codec.decode(frame)
                if doc["t"] in ("ack", "error"):
                    replies[doc["id"]] = doc
            busy = [d for d in replies.values() if d["t"] == "error"]
            assert busy and all(d["code"] == "rate_limited" for d in busy)
            assert all(d["message"] == "the room is busy" for d in busy)
            assert 150 <= len(replies) - len(busy) < 599  # its burst went out, then its rate
            for k in range(1, 51):  # the other room is served as if nothing happened
                send(calm, {"t": "chat", "id": k, "text": "hello"})
                assert recv_until(calm, "ack")["id"] == k
        stats = hub.call(lambda: hub.hub.stats)  # type: ignore[union-attr]  # the hub is running
        assert stats.room_busy == len(busy) and stats.closed_floods == 0
