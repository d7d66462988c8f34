"""Open, validate, seek and iterate a recording (see :mod:`xrclient.history.format`).

Opening scans the record headers (not the payloads) to build an index of kinds, times and
offsets; a file cut off mid-record is read up to its last complete record (``truncated``
says so). Payloads are checked (CRC, then structure) when read; damage anywhere but at the
very end raises :class:`RecordingError` naming the offset. ``refresh`` picks up records
appended since, so a reader can follow a file that is still being written.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import UpdateBatch, coalesce
from xrclient.history.format import (
    COMPRESSED,
    DELTA,
    FILE_HEADER,
    KEYFRAME,
    KINDS,
    MAGIC,
    MAX_PAYLOAD,
    RECORD,
    SCHEMA,
    VERSION,
    RecordingError,
    decode_payload,
    unpack_batch,
    unpack_schema,
)


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int  # of the record header
    kind: int  # plain kind (SCHEMA, KEYFRAME, DELTA)
    time: float
    length: int  # payload bytes
    segment: int  # index of the schema record this record follows


class Reader:
    """A recording opened for reading; use as a context manager or call ``close``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file = open(self.path, "rb")
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot open: {exc.strerror}") from None
        head = self._file.read(len(FILE_HEADER))
        if not head.startswith(MAGIC[: len(head)]) or len(head) < len(MAGIC):
            self._file.close()
            raise RecordingError(f"{self.path}: not an xrclient twin recording")
        if len(head) < len(FILE_HEADER):
            self._file.close()
            raise RecordingError(f"{self.path}: recording header cut off")
        if head[len(MAGIC)] != VERSION:
            self._file.close()
            raise RecordingError(
                f"{self.path}: recording format version {head[len(MAGIC)]} "
                f"(this build reads {VERSION})"
            )
        self.entries: list[Entry] = []
        self._times: list[float] = []  # time of each DELTA/KEYFRAME entry, for bisect
        self._positions: list[int] = []  # entry index of each of those
        self._schemas: dict[int, StreamSchema] = {}
        self._end = len(FILE_HEADER)
        self._segment = -1
        #: the file ends in an incomplete record (ignored)
        self.truncated = False
        try:
            self.refresh()
        except RecordingError:
            self._file.close()
            raise
        if not self.entries:
            self.close()
            raise RecordingError(f"{self.path}: the recording holds no complete record")

    # -- index -------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Index records appended since the last scan; returns how many were added."""
        f = self._file
        f.seek(0, 2)
        size = f.tell()
        added = 0
        pos = self._end
        self.truncated = False
        while pos < size:
            f.seek(pos)
            head = f.read(RECORD.size)
            if len(head) < RECORD.size:
                self.truncated = True
                break
            length, _crc, kind, time = RECORD.unpack(head)
            plain = kind & ~COMPRESSED
            end = pos + RECORD.size + length
            if end > size:
                self.truncated = True
                break
            if plain not in KINDS or length > MAX_PAYLOAD or time != time:
                raise RecordingError(f"{self.path}: damaged record header at byte {pos}")
            if plain == SCHEMA:
                self._segment = len(self.entries)
            elif self._segment < 0:
                raise RecordingError(f"{self.path}: records before the schema at byte {pos}")
            elif self._times and time < self._times[-1]:
                raise RecordingError(f"{self.path}: record at byte {pos} goes back in time")
            entry = Entry(pos, plain, time, length, self._segment)
            if plain != SCHEMA:
                self._times.append(time)
                self._positions.append(len(self.entries))
            self.entries.append(entry)
            pos = end
            added += 1
        self._end = pos
        return added

    @property
    def start(self) -> float:
        return self._times[0] if self._times else self.entries[0].time

    @property
    def end(self) -> float:
        return self._times[-1] if self._times else self.entries[-1].time

    @property
    def size(self) -> int:
        """Bytes of complete records (and the header)."""
        return self._end

    # -- records -----------------------------------------------------------------------------

    def _payload(self, entry: Entry) -> tuple[int, bytes]:
        self._file.seek(entry.offset)
        data = self._file.read(RECORD.size + entry.length)
        length, crc, kind, _time = RECORD.unpack_from(data)
        if len(data) != RECORD.size + length or zlib.crc32(data[8:]) != crc:
            if entry is self.entries[-1]:  # a last record whose write did not finish
                self.entries.pop()
                self._end = entry.offset
                self.truncated = True
                if self._positions and self._positions[-1] == len(self.entries):
                    self._positions.pop()
                    self._times.pop()
                raise _Dropped
            raise RecordingError(f"{self.path}: checksum mismatch in record at byte {entry.offset}")
        return decode_payload(kind, data[RECORD.size :])

    def schema_of(self, entry: Entry) -> StreamSchema:
        schema = self._schemas.get(entry.segment)
        if schema is None:
            _, payload = self._payload(self.entries[entry.segment])
            schema = self._schemas[entry.segment] = unpack_schema(payload)
        return schema

    def batch(self, index: int) -> UpdateBatch:
        """The batch of entry ``index`` (a DELTA or KEYFRAME)."""
        entry = self.entries[index]
        if entry.kind == SCHEMA:
            raise ValueError("a schema record holds no batch")
        schema = self.schema_of(entry)
        _, payload = self._payload(entry)
        try:
            return unpack_batch(payload, schema)
        except RecordingError as exc:
            raise RecordingError(f"{self.path}: record at byte {entry.offset}: {exc}") from None

    def index_at(self, t: float) -> int:
        """Index of the last DELTA/KEYFRAME entry at or before ``t`` (-1 if none)."""
        k = bisect.bisect_right(self._times, t)
        return self._positions[k - 1] if k else -1

    def iter_batches(
        self, first: int = 0, until: float = float("inf")
    ) -> Iterator[tuple[int, UpdateBatch]]:
        """(entry index, batch) of the DELTA records from entry ``first`` on, up to time
        ``until`` (keyframes skipped)."""
        i = first
        while i < len(self.entries):
            entry = self.entries[i]
            if entry.time > until:
                return
            if entry.kind == DELTA:
                try:
                    batch = self.batch(i)
                except _Dropped:
                    return
                yield i, batch
            i += 1

    def state_at(self, t: float) -> tuple[UpdateBatch, int] | None:
        """The stream's state at ``t`` as one snapshot batch, and the index of the last
        entry it includes; None before the first record."""
        last = self.index_at(t)
        if last < 0:
            return None
        segment = self.entries[last].segment
        start = segment + 1
        k = last
        while k > segment:  # the newest keyframe of this schema at or before t
            if self.entries[k].kind == KEYFRAME:
                start = k
                break
            k -= 1
        state: UpdateBatch | None = None
        i = start
        while i <= last:
            entry = self.entries[i]
            if entry.kind == KEYFRAME and i != start:
                i += 1
                continue
            try:
                batch = self.batch(i)
            except _Dropped:
                break
            state = batch if state is None else coalesce(state, batch)
            i += 1
        if state is None:
            return None
        return state, i - 1

    def validate(self) -> int:
        """Read and check every record; returns the number of batches."""
        n = 0
        for i, entry in enumerate(list(self.entries)):
            try:
                if entry.kind == SCHEMA:
                    self.schema_of(self.entries[i])
                else:
                    self.batch(i)
                    n += 1
            except _Dropped:
                break
        return n

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Dropped(Exception):
    """The last record failed its checksum: it was being written when the writer stopped."""
