"""What the HUD says: connection and frame status, the alarm list, the selection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from xrclient.desktop.hud import BAD, MUTED, OK, WARN, WHITE, AlarmRow, Line
from xrclient.scene.model import Scene

if TYPE_CHECKING:
    from xrclient.desktop.insight_link import InsightLink
    from xrclient.live import LiveTwin


class Timing(Protocol):
    def fps(self) -> float: ...
    def wall_ms(self) -> float: ...
    def cpu_ms(self) -> float: ...
    def own_ms(self) -> float: ...


def status_lines(
    scene: Scene, live: LiveTwin | None, times: Timing, mode: str, now: float
) -> tuple[Line, ...]:
    lines = [Line(f"{scene.plant.name}: {len(scene.machines)} machines", WHITE)]
    if live is None:
        lines.append(Line("twin: none (static scene; --twin URL for live state)", MUTED))
    else:
        st = live.status
        if st.state == "live":
            parts = ["twin: live"]
            if st.latency_p50 is not None:
                parts.append(f"latency {st.latency_p50 * 1000:.1f} ms")
            if st.last_message is not None:
                parts.append(f"updated {max(now - st.last_message, 0.0):.1f} s ago")
            lines.append(Line(", ".join(parts), OK))
        elif st.state in ("connecting", "resyncing"):
            lines.append(Line(f"twin: {st.state} to {st.url}", WARN))
        else:
            retry = f", retry in {st.retry_in:.1f} s" if st.retry_in is not None else ""
            why = f": {st.last_error}" if st.last_error else ""
            lines.append(Line(f"twin: {st.state}{retry}{why}"[:90], BAD))
        state = live.bindings.state
        stale = int((state.stale & state.seen).sum())
        alarms = int((state.alarm_level > 0).sum())
        critical = int((state.alarm_level >= 2).sum())
        color = BAD if critical else WARN if alarms or stale else OK
        lines.append(
            Line(
                f"{int(state.seen.sum())} reporting, {stale} stale, "
                f"{alarms} in alarm ({critical} critical)",
                color,
            )
        )
    lines.append(
        Line(
            f"{times.fps():.0f} fps, frame {times.wall_ms():.1f} ms (xrclient "
            f"{times.own_ms():.1f} ms, rest GL), {mode}",
            MUTED,
        )
    )
    return tuple(lines)


def alarm_rows(scene: Scene, live: LiveTwin | None) -> tuple[tuple[AlarmRow, ...], int]:
    """The machines in alarm, worst first then by id, with their worst alarm's message."""
    if live is None:
        return (), 0
    bindings = live.bindings
    level = bindings.state.alarm_level
    active = np.flatnonzero(level > 0)
    if active.size == 0:
        return (), 0
    ids = [scene.machines[i].id for i in active]
    order = sorted(range(active.size), key=lambda k: (-int(level[active[k]]), ids[k]))
    rules = bindings.alarms
    rows = []
    for k in order[:8]:
        i = int(active[k])
        worst = int(level[i])
        on = bindings.state.alarms[i]
        message = next(
            (r.message for j, r in enumerate(rules) if on[j] and r.level == worst), "alarm"
        )
        rows.append(AlarmRow(i, f"{ids[k]}  {message}", worst))
    return tuple(rows), int(active.size)


def selection_lines(scene: Scene, index: int, live: bool) -> tuple[Line, ...]:
    m = scene.machines[index]
    head = m.id if m.name in ("", m.id) else f"{m.id}  {m.name}"
    line = next((ln.name for ln in scene.lines if ln.id == m.line), m.line)
    lines = [Line(head, WHITE), Line(f"{m.type}, line {line}", MUTED)]
    if live:
        lines.append(Line("live values: panel beside the machine", MUTED))
    lines.append(Line("double-click: fly to it, Esc: clear", MUTED))
    return tuple(lines)


def insight_lines(insight: InsightLink) -> list[Line]:
    """Energy now and since opened, and how many machines are predicted to fail."""
    lines = []
    energy = insight.energy_line()
    if energy:
        lines.append(Line(energy, MUTED))
    n = insight.predicted()
    if n:
        lines.append(Line(f"{n} machine(s) drifting toward a limit (amber labels)", WARN))
    return lines
