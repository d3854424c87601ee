"""The engine: events in, decisions and ledger entries out; lifecycle mechanisms plug in through its kernel."""

from gridpoints.engine._coerce import EventLimits
from gridpoints.engine._engine import Engine, EventInput
from gridpoints.engine._kernel import Context, Handler, Kernel, Mechanism
from gridpoints.engine._plan import Action, Award, Plan
from gridpoints.engine.lifecycle import (
    CloseReport,
    Correction,
    OpenVerification,
    RepairDue,
    RepairStatus,
    ResidentStanding,
    Standing,
    Statement,
    WorkerView,
)

__all__ = ["Action", "Award", "CloseReport", "Context", "Correction", "Engine", "EventInput", "EventLimits",
           "Handler", "Kernel", "Mechanism", "OpenVerification", "Plan", "RepairDue", "RepairStatus",
           "ResidentStanding", "Standing", "Statement", "WorkerView"]
