"""Twin-stream frames to and from bytes: JSON text frames and msgpack binary frames.

Decoding is strict and total: any frame, however malformed, either decodes into plain
data or raises ``WireError`` naming what is wrong; nothing else escapes. Update entries
are validated in bulk with numpy (machine and property ranges, finite values, enum and
bool codes), never one Python branch per value on the binary path.

Layouts (see docs/protocol.md):

* JSON update list: ``[[machine_id, source_time, {property: value, ...}], ...]``;
  an empty object is a keep-alive.
* msgpack columns: ``m`` uint32, ``p`` uint16 (``0xFFFF`` = keep-alive), ``v`` float64,
  ``t`` float64, all little-endian, equal lengths; ``x`` the texts that string values
  index.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt
import orjson

from xrclient.core.twin_schema import MAX_STRING_CHARS, PropertySpec, StreamSchema
from xrclient.core.updates import TOUCH, UpdateBatch, cells_of

#: keep-alive property index in msgpack columns
WIRE_TOUCH = 0xFFFF
#: at most this many update entries in one message
MAX_ENTRIES = 4_000_000
#: at most this many texts in one msgpack message
MAX_TEXTS = 100_000

#: msgpack column types: machine index, property index, value and time
MACHINE_DTYPE = np.dtype("<u4")
PROP_DTYPE = np.dtype("<u2")
VALUE_DTYPE = np.dtype("<f8")


class WireError(ValueError):
    """A frame that does not decode or breaks the protocol's rules."""


def decode_frame(frame: str | bytes) -> dict[str, Any]:
    """A text frame as JSON, a binary frame as msgpack; either must be an object with a type."""
    try:
        if isinstance(frame, str):
            doc = orjson.loads(frame)
        else:
            doc = msgpack.unpackb(
                frame,
                raw=False,
                strict_map_key=True,
                use_list=True,
                max_str_len=1 << 20,
                max_bin_len=1 << 26,
                max_array_len=MAX_TEXTS + 1_000_000,
                max_map_len=1 << 20,
                max_ext_len=0,
            )
    except msgpack.StackError:
        raise WireError("malformed msgpack: nested too deeply") from None
    except (orjson.JSONDecodeError, ValueError, TypeError, msgpack.UnpackException) as exc:
        kind = "JSON" if isinstance(frame, str) else "msgpack"
        detail = str(exc) or ("invalid type byte" if isinstance(exc, msgpack.FormatError) else "")
        raise WireError(f"malformed {kind}: {detail or type(exc).__name__}") from None
    except RecursionError:
        raise WireError("malformed message: nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise WireError("a message must be an object with a string 'type'")
    return doc


def encode_json(doc: Mapping[str, Any]) -> str:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def encode_json_list(items: list[Any]) -> str:
    return orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def encode_msgpack(doc: Mapping[str, Any]) -> bytes:
    out: bytes = msgpack.packb(doc, use_bin_type=True)
    return out


# -- field access ------------------------------------------------------------------------


def field_int(doc: Mapping[str, Any], key: str, minimum: int = 0) -> int:
    v = doc.get(key)
    if type(v) is not int or v < minimum or v > 2**53:
        raise WireError(f"'{key}' must be an integer >= {minimum}")
    return v


def field_number(doc: Mapping[str, Any], key: str) -> float:
    v = doc.get(key)
    if (type(v) is not int and type(v) is not float) or not math.isfinite(v):
        raise WireError(f"'{key}' must be a finite number")
    return float(v)


def field_str(doc: Mapping[str, Any], key: str, max_chars: int = 256) -> str:
    v = doc.get(key)
    if not isinstance(v, str) or len(v) > max_chars:
        raise WireError(f"'{key}' must be a string of at most {max_chars} characters")
    return v


# -- schema ------------------------------------------------------------------------------


def decode_schema(value: object) -> StreamSchema:
    if not isinstance(value, dict):
        raise WireError("'schema' must be an object")
    machines = value.get("machines")
    props = value.get("properties")
    if not isinstance(machines, list) or not isinstance(props, list):
        raise WireError("'schema' needs 'machines' and 'properties' lists")
    specs = []
    for i, p in enumerate(props):
        if not isinstance(p, dict) or set(p) - {"name", "kind", "unit", "values"}:
            raise WireError(f"schema.properties[{i}]: expected name, kind, unit, values")
        vals = p.get("values", [])
        unit = p.get("unit", "")
        if not isinstance(vals, list) or not all(isinstance(x, str) for x in vals):
            raise WireError(f"schema.properties[{i}].values: expected a list of strings")
        if not isinstance(unit, str) or not isinstance(p.get("name"), str):
            raise WireError(f"schema.properties[{i}]: name and unit must be strings")
        try:
            specs.append(PropertySpec(p["name"], p.get("kind"), unit, tuple(vals)))  # type: ignore[arg-type]  # kind is untrusted: PropertySpec checks it and raises ValueError (caught below)
        except ValueError as exc:
            raise WireError(f"schema.properties[{i}]: {exc}") from None
    try:
        return StreamSchema(tuple(machines), tuple(specs))
    except ValueError as exc:
        raise WireError(f"schema: {exc}") from None


# -- update decoding ---------------------------------------------------------------------

_NUMBER_TYPES = frozenset({int, float})
#: how JSON values of each kind become float64 (numbers and keep-alives: as they are)
_NUMBER, _ENUM, _BOOL, _STRING = range(4)
_CATEGORY = {"number": _NUMBER, "time": _NUMBER, "enum": _ENUM, "bool": _BOOL, "string": _STRING}

I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
Columns = tuple[I32, I32, F64, F64, tuple[str, ...]]


@dataclass(frozen=True, slots=True, eq=False)
class _Plan:
    """The property indices of one set of keys, in key order (cached per key set)."""

    props: npt.NDArray[np.intp]
    items: tuple[int, ...]
    #: (position, property index, category) of the values that need more than float()
    special: tuple[tuple[int, int, int], ...]


class _Invalid(Exception):
    """A value the bulk conversion cannot take; the per-value path names the first one."""


class UpdateDecoder:
    """Decodes update messages of one stream (its schema fixed) into ``UpdateBatch``es."""

    def __init__(self, schema: StreamSchema) -> None:
        self.schema = schema
        props = schema.properties
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._touch_plan = _Plan(np.array([TOUCH], np.intp), (TOUCH,), ())
        inf = np.inf
        # per property (+ a trailing TOUCH slot): upper bound of the code, and integrality
        self._limit = np.array(
            [len(p.values) if p.kind == "enum" else 2 if p.kind == "bool" else inf for p in props]
            + [inf]
        )
        self._integral = np.array([p.kind in ("enum", "bool", "string") for p in props] + [False])
        self._is_string = np.array([p.kind == "string" for p in props] + [False])
        self._coded = tuple(np.flatnonzero(self._integral).tolist())
        self._category = np.array([_CATEGORY[p.kind] for p in props] + [_NUMBER], np.int8)
        self._enum_codes = [
            {v: float(k) for k, v in enumerate(p.values)} if p.kind == "enum" else {} for p in props
        ]

    def decode(self, doc: Mapping[str, Any], snapshot: bool) -> UpdateBatch:
        seq = field_int(doc, "seq")
        sent = field_number(doc, "sent")
        if "updates" in doc:
            cols = self._json_columns(doc["updates"])
        else:
            cols = self._binary_columns(doc)
        return UpdateBatch(self.schema, snapshot, seq, sent, *cols)

    # JSON: one Python step per entry; properties, conversions and checks in bulk
    def _json_columns(self, updates: object) -> Columns:
        if not isinstance(updates, list) or len(updates) > MAX_ENTRIES:
            raise WireError(f"'updates' must be a list of at most {MAX_ENTRIES} entries")
        entry_machine, entry_time, entry_plan, values = self._entries(updates)
        prop, counts, stride = _cells(entry_plan, len(values))
        texts: list[str] = []
        if stride:  # every entry has the same keys in the same order
            if entry_plan[0].special:
                texts = self._convert_strided(values, entry_plan[0], counts)
        else:
            category = self._category[prop]
            special = np.flatnonzero(category)
            if special.size:
                texts = self._convert_all(values, prop, category, special, counts)
        if len(values) > MAX_ENTRIES:
            raise WireError(f"more than {MAX_ENTRIES} update entries")
        v = _numbers(values, entry_time)
        t_entry = _numbers(entry_time, values)
        self._check(prop, v, t_entry, len(texts))
        m_arr = np.repeat(np.array(entry_machine, np.int32), counts)
        return m_arr, prop.astype(np.int32), v, np.repeat(t_entry, counts), tuple(texts)

    def _entries(self, updates: list[Any]) -> _Entries:
        """One Python step per entry (cheaper here than several passes in C over the
        entries); at the first malformed entry ``_entries_checked`` takes over to name it."""
        touch_plan = self._touch_plan
        entry_machine: list[int] = []
        entry_time: list[Any] = []
        entry_plan: list[_Plan] = []
        values: list[Any] = []
        # bound methods: this loop runs once per entry
        machine_of, plan_of = self.schema.machine_index.get, self._plans.get
        add_machine, add_time, add_plan = entry_machine.append, entry_time.append, entry_plan.append
        add_values = values.extend
        last_key: tuple[str, ...] | None = None
        plan = touch_plan
        for entry in updates:  # the entry's index is len(entry_plan)
            if type(entry) is not list:
                return self._entries_checked(updates)
            try:
                mid, t, vals = entry
                m = machine_of(mid)  # ids are strings: any other key finds nothing
            except (ValueError, TypeError):  # not three items; an unhashable id
                return self._entries_checked(updates)
            if m is None or type(vals) is not dict:
                return self._entries_checked(updates)
            if vals:
                key = tuple(vals)
                if key != last_key:  # comparing with the last is cheaper than hashing
                    plan = plan_of(key) or self._plan(key, len(entry_plan))
                    last_key = key
                add_plan(plan)
                add_values(vals.values())
            else:  # a keep-alive
                add_plan(touch_plan)
                values.append(0.0)
            add_machine(m)
            add_time(t)
        return entry_machine, entry_time, entry_plan, values

    def _entries_checked(self, updates: list[Any]) -> _Entries:
        """``_entries`` with every check spelt out: raises for the first malformed entry."""
        for k, entry in enumerate(updates):
            if type(entry) is not list or len(entry) != 3:
                raise WireError(f"updates[{k}]: expected [machine, time, {{values}}]")
            mid, _, vals = entry
            m = self.schema.machine_index.get(mid) if type(mid) is str else None
            if m is None:
                raise WireError(f"updates[{k}]: unknown machine {str(mid)[:80]!r}")
            if type(vals) is not dict:
                raise WireError(f"updates[{k}]: values must be an object")
            if vals:
                key = tuple(vals)
                if key not in self._plans:
                    self._plan(key, k)
        raise AssertionError("_entries_checked found no malformed entry")  # pragma: no cover

    def _plan(self, key: tuple[str, ...], k: int) -> _Plan:
        if len(self._plans) > 4096:
            self._plans.clear()
        index = self.schema.property_index
        props: list[int] = []
        for name in key:
            i = index.get(name)
            if i is None:
                raise WireError(f"updates[{k}]: unknown property {str(name)[:80]!r}")
            props.append(i)
        category = self._category
        special = tuple((pos, i, int(category[i])) for pos, i in enumerate(props) if category[i])
        plan = _Plan(np.array(props, np.intp), tuple(props), special)
        self._plans[key] = plan
        return plan

    def _convert_strided(
        self, values: list[Any], plan: _Plan, counts: npt.NDArray[np.intp]
    ) -> list[str]:
        """``_convert_all`` for entries that all share ``plan``: each special property's values
        are every ``stride``-th item of ``values``, read and written as list slices."""
        stride = len(plan.items)
        n_strings = sum(1 for *_, cat in plan.special if cat == _STRING)
        texts: list[Any] = [None] * (n_strings * len(counts))
        codes: list[tuple[int, list[float]]] = []
        try:
            s = 0
            for pos, p, cat in plan.special:
                got = values[pos::stride]
                if cat == _STRING:
                    _check_texts(got)
                    texts[s::n_strings] = got
                    found = np.arange(s, len(texts), n_strings, dtype=np.float64).tolist()
                    s += 1
                else:
                    found = _codes(got, cat, self._enum_codes[p])
                codes.append((pos, found))
        except (_Invalid, TypeError):
            prop = np.tile(plan.props, len(counts))
            special = np.flatnonzero(self._category[prop])
            return self._convert_one_by_one(values, prop, special, counts)
        for pos, found in codes:
            values[pos::stride] = found
        return texts

    def _convert_all(
        self,
        values: list[Any],
        prop: npt.NDArray[np.intp],
        category: npt.NDArray[np.int8],
        special: npt.NDArray[np.intp],
        counts: npt.NDArray[np.intp],
    ) -> list[str]:
        """Replace enum, bool and string values in ``values`` by their codes; the texts."""
        kind = category[special]
        codes = np.empty(special.size)
        try:
            at = np.flatnonzero(kind == _STRING)
            texts = _check_texts(_gather(values, special[at]))
            codes[at] = np.arange(at.size)
            at = np.flatnonzero(kind == _BOOL)
            codes[at] = _codes(_gather(values, special[at]), _BOOL, {})
            enums = kind == _ENUM
            for p in np.unique(prop[special[enums]]).tolist():
                at = np.flatnonzero(enums & (prop[special] == p))
                codes[at] = _codes(_gather(values, special[at]), _ENUM, self._enum_codes[p])
        except (_Invalid, TypeError):
            return self._convert_one_by_one(values, prop, special, counts)
        for at_value, code in zip(special.tolist(), codes.tolist(), strict=True):
            values[at_value] = code
        return list(texts)

    def _convert_one_by_one(
        self,
        values: list[Any],
        prop: npt.NDArray[np.intp],
        special: npt.NDArray[np.intp],
        counts: npt.NDArray[np.intp],
    ) -> list[str]:
        """Some value is wrong: convert in order, which raises for the first wrong one."""
        entry = np.repeat(np.arange(counts.size), counts)[special]
        texts: list[str] = []
        specs = self.schema.properties
        for at, k in zip(special.tolist(), entry.tolist(), strict=True):
            values[at] = self._convert(values[at], specs[int(prop[at])], k, texts)
        return texts

    def _convert(self, value: object, spec: PropertySpec, k: int, texts: list[str]) -> float:
        if spec.kind == "bool":
            if type(value) is not bool:
                raise WireError(f"updates[{k}].{spec.name}: expected true or false")
            return 1.0 if value else 0.0
        if type(value) is not str:
            raise WireError(f"updates[{k}].{spec.name}: expected a string")
        if spec.kind == "enum":
            code = self._enum_codes[self.schema.property_index[spec.name]].get(value)
            if code is None:
                raise WireError(f"updates[{k}].{spec.name}: {value[:80]!r} is not a known value")
            return code
        if len(value) > MAX_STRING_CHARS:
            raise WireError(f"updates[{k}].{spec.name}: text longer than {MAX_STRING_CHARS}")
        texts.append(value)
        return float(len(texts) - 1)

    # msgpack: columns straight from bytes
    def _binary_columns(self, doc: Mapping[str, Any]) -> Columns:
        cols = []
        for key, dtype in (
            ("m", MACHINE_DTYPE),
            ("p", PROP_DTYPE),
            ("v", VALUE_DTYPE),
            ("t", VALUE_DTYPE),
        ):
            raw = doc.get(key)
            if not isinstance(raw, bytes) or len(raw) % dtype.itemsize:
                raise WireError(f"'{key}' must be bytes holding {dtype.str} values")
            cols.append(np.frombuffer(raw, dtype))
        m_raw, p_raw, v_raw, t_raw = cols
        n = len(m_raw)
        if not (len(p_raw) == len(v_raw) == len(t_raw) == n):
            raise WireError("columns 'm', 'p', 'v', 't' must have the same length")
        if n > MAX_ENTRIES:
            raise WireError(f"columns must hold at most {MAX_ENTRIES} entries")
        texts = doc.get("x", [])
        if (
            not isinstance(texts, list)
            or len(texts) > MAX_TEXTS
            or not all(map(isinstance, texts, repeat(str)))
            or max(map(len, texts), default=0) > MAX_STRING_CHARS
        ):
            raise WireError(f"'x' must be a list of strings of at most {MAX_STRING_CHARS} chars")
        if n and int(m_raw.max()) >= len(self.schema.machines):
            raise WireError("a machine index is out of range")
        prop = p_raw.astype(np.intp)
        value = v_raw.astype(np.float64)
        if n and int(p_raw.max()) >= len(self.schema.properties):
            touch = p_raw == WIRE_TOUCH
            if (p_raw[~touch] >= len(self.schema.properties)).any():
                raise WireError("a property index is out of range")
            prop[touch] = TOUCH
            value[touch] = 0.0
        time = t_raw.astype(np.float64)
        self._check(prop, value, time, len(texts))
        return m_raw.astype(np.int32), prop.astype(np.int32), value, time, tuple(texts)

    def _check(
        self,
        prop: npt.NDArray[np.intp],
        value: F64,
        time: F64,
        n_texts: int,
    ) -> None:
        """Values and times finite; enum, bool and string codes in range and integral."""
        if not np.isfinite(value).all() or not np.isfinite(time).all():
            raise WireError("values and times must be finite numbers")
        at = cells_of(prop, self._coded, self._integral)  # numbers, times: any finite value
        if not at.size:
            return
        p, v = prop[at], value[at]
        limit = self._limit[p]
        strings = self._is_string[p]
        if strings.any():
            limit[strings] = n_texts
        bad = (v >= limit) | (v < 0) | (v != np.floor(v))
        if bad.any():
            at_bad = int(at[np.argmax(bad)])
            name = self.schema.properties[int(prop[at_bad])].name
            raise WireError(
                f"entry {at_bad}: {float(value[at_bad])!r} is not a valid code for '{name}'"
            )


def _cells(plans: list[_Plan], n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], int]:
    """Property index of each of the ``n`` values of entries with these plans, the number
    of values of each entry, and that number if all entries share one plan (else 0)."""
    if not plans:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), 0
    first = plans[0]
    if plans.count(first) == len(plans):  # one key set for every entry: the usual message
        size = len(first.items)
        return np.tile(first.props, len(plans)), np.full(len(plans), size, np.intp), size
    props = np.fromiter(chain.from_iterable(map(_items, plans)), np.intp, n)
    counts = np.fromiter(map(len, map(_items, plans)), np.intp, len(plans))
    return props, counts, 0


_items = attrgetter("items")
#: machine rows, times, plans and values of a message's entries
_Entries = tuple[list[int], list[Any], list[_Plan], list[Any]]


def _numbers(items: list[Any], others: list[Any]) -> F64:
    """``items`` (Python ints and floats) as float64; anything else is refused, ``true`` and
    ``false`` included (``array('d')`` would read those as 1 and 0). ``others`` is the other
    list the message's numbers come from: a wrong type there is named first, as if both
    lists were checked before any conversion."""
    try:  # array('d') converts Python numbers twice as fast as np.array
        out = np.frombuffer(array("d", items), np.float64)
    except TypeError:
        raise WireError("number properties and times must be numbers") from None
    except OverflowError:
        if (
            not set(map(type, items)) <= _NUMBER_TYPES
            or not set(map(type, others)) <= _NUMBER_TYPES
        ):
            raise WireError("number properties and times must be numbers") from None
        raise WireError("a number is out of range") from None
    # only a value read as 0 or 1 can have been a bool: check the types of those alone
    maybe = np.flatnonzero((out == 0.0) | (out == 1.0))
    if maybe.size and not set(map(type, _gather(items, maybe))) <= _NUMBER_TYPES:
        raise WireError("number properties and times must be numbers")
    return out


def _check_texts(got: Sequence[Any]) -> Sequence[str]:
    if not set(map(type, got)) <= {str} or max(map(len, got), default=0) > MAX_STRING_CHARS:
        raise _Invalid
    return got


def _codes(got: Sequence[Any], category: int, enum_codes: Mapping[str, float]) -> list[float]:
    """Codes of bool values (``category`` _BOOL) or of one enum's values; ``_Invalid`` if any
    value does not fit."""
    if category == _BOOL:
        if not set(map(type, got)) <= {bool}:
            raise _Invalid
        return list(map(float, got))
    found: list[Any] = list(map(enum_codes.get, got))
    if not set(map(type, got)) <= {str} or None in found:
        raise _Invalid
    return found


def _gather(values: list[Any], at: npt.NDArray[np.intp]) -> tuple[Any, ...]:
    if at.size == 0:
        return ()
    if at.size == 1:
        return (values[int(at[0])],)
    got: tuple[Any, ...] = itemgetter(*at.tolist())(values)
    return got
