"""What a trainee reads: the progress panel's lines for a :class:`TrainingView`.

Front-end neutral: the desktop HUD and the world-space panel (desktop and headset) show the
same lines and map each line's ``kind`` to their own colours. ``result_lines`` sums up a
finished run.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Literal

from xrclient.core.run_result import RunResult
from xrclient.training.runner import TrainingView

Kind = Literal["title", "step", "text", "detail", "hint", "warning", "message", "done", "failed"]

#: characters per line of the wrapped instruction
WRAP = 52

#: how each completion is done, for the trainee (desktop and headset wording)
HOW = {
    "select": "select the machine",
    "point_at": "point at the machine",
    "confirm": "confirm when done",
    "condition": "checked against the live plant",
}


@dataclass(frozen=True, slots=True)
class PanelLine:
    text: str
    kind: Kind


def clock(seconds: float) -> str:
    s = max(0, int(seconds + 0.999))
    return f"{s // 60}:{s % 60:02d}"


def step_marks(view: TrainingView) -> str:
    """One mark per step: done, skipped, failed or timed out, current, still to come."""
    marks = {"done": "#", "skipped": ">", "failed": "x", "timed_out": "x", "active": "o"}
    return "".join(marks.get(state, ".") for state in view.step_states)


def panel_lines(
    view: TrainingView, confirm_key: str = "C", hint_key: str = "I", wrap: int = WRAP
) -> list[PanelLine]:
    """The panel for this frame (warnings first: they matter most)."""
    out = [PanelLine(f"WARNING: {w}", "warning") for w in view.warnings]
    out.append(PanelLine(view.title, "title"))
    if view.status != "running" or view.step_index < 0:
        verdict = "completed" if view.status == "completed" else "stopped"
        out.append(
            PanelLine(
                f"Procedure {verdict}: {view.completed} of {view.step_count} steps done",
                "done" if view.status == "completed" else "failed",
            )
        )
        if view.message:
            out.append(PanelLine(view.message, "message"))
        return out
    head = f"Step {view.step_index + 1} of {view.step_count}  [{step_marks(view)}]"
    if view.time_left_s is not None:
        head += f"  {clock(view.time_left_s)} left"
    out.append(PanelLine(head, "step"))
    out += [PanelLine(line, "text") for line in textwrap.wrap(view.text, wrap) or [""]]
    how = HOW.get(view.complete or "", "")
    if view.complete == "confirm":
        how = f"press {confirm_key} when done"
    detail = f"at: {view.part}  ({how})" if view.part else f"({how})"
    out.append(PanelLine(detail, "detail"))
    for hint in view.hints:
        out += [PanelLine(line, "hint") for line in textwrap.wrap(f"Hint: {hint}", wrap)]
    if view.message:
        out += [PanelLine(line, "message") for line in textwrap.wrap(view.message, wrap)]
    if not view.hints:
        out.append(PanelLine(f"{hint_key}: a hint", "detail"))
    return out


def result_lines(result: RunResult) -> list[PanelLine]:
    verdict = "PASSED" if result.passed else "NOT PASSED"
    kind: Kind = "done" if result.passed else "failed"
    return [
        PanelLine(f"{result.title}: {verdict}", kind),
        PanelLine(
            f"score {result.score:.0f} (pass {result.pass_score:.0f}), "
            f"{len(result.errors)} errors, {result.duration_s:.0f} s",
            "detail",
        ),
    ]
