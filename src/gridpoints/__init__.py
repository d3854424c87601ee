"""gridpoints: a rules engine for community grid points management (网格积分制).

Load a ruleset, build an engine over a store, submit events, read balances and the ledger::

    policy = gridpoints.load_ruleset("rulesets/pudong-sunshine.yaml")
    engine = gridpoints.Engine(policy, store=gridpoints.MemoryStore())
    decision = engine.submit({...})
"""

from gridpoints.engine import (
    CloseReport,
    Engine,
    EventLimits,
    RepairStatus,
    ResidentStanding,
    Standing,
    Statement,
    WorkerView,
)
from gridpoints.errors import (
    CorrectionRefused,
    EventError,
    GridpointsError,
    IdempotencyConflict,
    IntegrityError,
    Issue,
    MissingExtra,
    RedemptionRefused,
    RulesetError,
    SealKeyMismatch,
    SegregationError,
    SerializationFailure,
    SettlementError,
    StoreError,
    StoreUnavailable,
    StoreUrlError,
    UnknownEventType,
    UpgradeRefused,
    VersionMissing,
)
from gridpoints.model import (
    Anchor,
    CounterKey,
    Decision,
    Entry,
    Event,
    LimitStep,
    Membership,
    MemoryRegistry,
    Reason,
    Registry,
    RuleTrace,
    Trace,
)
from gridpoints.policy import Policy, load_ruleset
from gridpoints.privacy import Pseudonymiser
from gridpoints.ruleset import Diagnostic, LoadLimits, json_schema, lint
from gridpoints.storage import MemoryStore, Store, StoreCapabilities, open_store

__all__ = [
    "Anchor",
    "CloseReport",
    "CorrectionRefused",
    "CounterKey",
    "Decision",
    "Diagnostic",
    "Engine",
    "Entry",
    "Event",
    "EventError",
    "EventLimits",
    "GridpointsError",
    "IdempotencyConflict",
    "IntegrityError",
    "Issue",
    "LimitStep",
    "LoadLimits",
    "Membership",
    "MemoryRegistry",
    "MemoryStore",
    "MissingExtra",
    "Policy",
    "Pseudonymiser",
    "Reason",
    "RedemptionRefused",
    "Registry",
    "RepairStatus",
    "ResidentStanding",
    "RuleTrace",
    "RulesetError",
    "SealKeyMismatch",
    "SegregationError",
    "SerializationFailure",
    "SettlementError",
    "Standing",
    "Statement",
    "Store",
    "StoreCapabilities",
    "StoreError",
    "StoreUnavailable",
    "StoreUrlError",
    "Trace",
    "UnknownEventType",
    "UpgradeRefused",
    "VersionMissing",
    "WorkerView",
    "json_schema",
    "lint",
    "load_ruleset",
    "open_store",
]

__version__ = "0.1.0"
