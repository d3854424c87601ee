"""Lifecycle mechanisms, each one module, and :data:`MECHANISMS`: the table the engine hands its kernel.

Adding a mechanism is its module (actions, handlers, planners, hooks, entry points that plan through the
:class:`~gridpoints.engine._kernel.Context`), one line in this table, and its DSL models.
"""

from gridpoints.engine._kernel import Mechanism
from gridpoints.engine.lifecycle import (
    _campaign,
    _close,
    _correct,
    _honour,
    _mall,
    _notify,
    _repair,
    _settle,
    _streak,
    _team,
)
from gridpoints.engine.lifecycle._close import CloseAction, CloseReport, close_period
from gridpoints.engine.lifecycle._correct import (
    Correction,
    CorrectionAction,
    adjust,
    adjustment_event_id,
    correct,
    correction_event_id,
    corrections,
)
from gridpoints.engine.lifecycle._honour import HONOURED, Honour, HonourAction, honours
from gridpoints.engine.lifecycle._mall import (
    MallAction,
    expire_holds,
    redeem,
    redemption_event_id,
    settle_hold,
    tier,
)
from gridpoints.engine.lifecycle._notify import NotifyAction, remind
from gridpoints.engine.lifecycle._ranking import Standing, counts_as_earned, earned, leaderboard
from gridpoints.engine.lifecycle._repair import RepairAction, RepairStatus, expire_repairs, repairs, restore_amount
from gridpoints.engine.lifecycle._settle import SettleAction, expire_pending
from gridpoints.engine.lifecycle._streak import StreakAction
from gridpoints.engine.lifecycle._team import TeamAction, TeamStanding, team_leaderboard
from gridpoints.engine.lifecycle._upgrade import StrandedItem, stranded
from gridpoints.engine.lifecycle._views import (
    OpenVerification,
    RepairDue,
    ResidentStanding,
    Statement,
    WorkerView,
    standing,
    statement,
    worker_view,
)

#: Every mechanism the engine runs, in the order their registrations are read.
#: Follow hooks run in this order: the streak's before the honours' (a badge reads the streak's run).
MECHANISMS: tuple[Mechanism, ...] = (_campaign.MECHANISM, _settle.MECHANISM, _repair.MECHANISM, _mall.MECHANISM,
                                     _close.MECHANISM, _correct.MECHANISM, _team.MECHANISM, _streak.MECHANISM,
                                     _honour.MECHANISM, _notify.MECHANISM)

__all__ = [
    "HONOURED",
    "MECHANISMS",
    "CloseAction",
    "CloseReport",
    "Correction",
    "CorrectionAction",
    "Honour",
    "HonourAction",
    "MallAction",
    "NotifyAction",
    "OpenVerification",
    "RepairAction",
    "RepairDue",
    "RepairStatus",
    "ResidentStanding",
    "SettleAction",
    "Standing",
    "Statement",
    "StrandedItem",
    "StreakAction",
    "TeamAction",
    "TeamStanding",
    "WorkerView",
    "adjust",
    "adjustment_event_id",
    "close_period",
    "correct",
    "correction_event_id",
    "corrections",
    "counts_as_earned",
    "earned",
    "expire_holds",
    "expire_pending",
    "expire_repairs",
    "honours",
    "leaderboard",
    "redeem",
    "redemption_event_id",
    "remind",
    "repairs",
    "restore_amount",
    "settle_hold",
    "standing",
    "statement",
    "stranded",
    "team_leaderboard",
    "tier",
    "worker_view",
]
