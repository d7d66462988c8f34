"""Training: step-by-step procedures checked against the live twin state.

* :mod:`~xrclient.training.loader` reads and validates ``scenes/procedures/*.toml``;
* :mod:`~xrclient.training.runner` is the sans-I/O state machine a front end drives
  (``TrainingRun.update(store, now, head) -> TrainingView`` plus ``select``, ``point_at``,
  ``confirm``, ``hint``, ``restart``, and the expert's ``advance`` and ``reset_step``);
* :mod:`~xrclient.training.assessment` scores a run into a
  :class:`~xrclient.core.run_result.RunResult` (plain data in core, so the hub and the
  session carry it without this package); :mod:`~xrclient.training.xapi` exports it as
  xAPI statements; :mod:`~xrclient.training.results` persists results;
* :mod:`~xrclient.training.driver` runs a procedure inside a front end, reporting to a
  shared session through the small protocol it declares.

The format and behaviour are documented in ``docs/training.md``.
"""

from xrclient.training.loader import (
    ProcedureError,
    load_procedure,
    parse_procedure,
    procedure_path,
    shipped_procedures,
)
from xrclient.training.model import HazardZone, Procedure, Scoring, Step
from xrclient.training.runner import TrainingRun, TrainingView, ZoneView

__all__ = [
    "HazardZone",
    "Procedure",
    "ProcedureError",
    "Scoring",
    "Step",
    "TrainingRun",
    "TrainingView",
    "ZoneView",
    "load_procedure",
    "parse_procedure",
    "procedure_path",
    "shipped_procedures",
]
