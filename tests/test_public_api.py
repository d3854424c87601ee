"""The public surface: a pinned, sorted ``__all__``, importable names, typing marker, error hierarchy."""

from __future__ import annotations

import importlib
import inspect
from importlib.resources import files

import pytest

import gridpoints

#: Adding or removing a public name is a deliberate act: update this list in the same change.
PUBLIC = [
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


def test_all_is_pinned() -> None:
    """gridpoints.__all__ is exactly the pinned list of public names."""
    assert gridpoints.__all__ == PUBLIC


def test_all_is_sorted_without_duplicates() -> None:
    """__all__ is sorted and lists each name once."""
    assert gridpoints.__all__ == sorted(gridpoints.__all__)
    assert len(set(gridpoints.__all__)) == len(gridpoints.__all__)


def test_every_public_name_is_importable() -> None:
    """`from gridpoints import *` binds every name in __all__, each a documented object from a gridpoints module."""
    namespace: dict[str, object] = {}
    exec("from gridpoints import *", namespace)
    for name in PUBLIC:
        obj = namespace[name]
        assert obj is getattr(gridpoints, name)
        assert getattr(obj, "__module__", "").startswith("gridpoints")
        assert inspect.getdoc(obj), f"{name} has no docstring"


@pytest.mark.parametrize("module", ["gridpoints.storage", "gridpoints.privacy", "gridpoints.model", "gridpoints.policy",
                                    "gridpoints.engine", "gridpoints.engine.lifecycle", "gridpoints.analytics",
                                    "gridpoints.whatif", "gridpoints.storage.sql", "gridpoints.server"])
def test_subpackage_all_is_importable(module: str) -> None:
    """Public subpackages' __all__ names all resolve, sorted."""
    mod = importlib.import_module(module)
    # Sorted as ruff's RUF022 sorts: constants, then classes, then functions, each alphabetically.
    assert mod.__all__ == sorted(mod.__all__, key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_ruleset_subpackage_all_is_importable() -> None:
    """Every name in gridpoints.ruleset.__all__ exists, so `from gridpoints.ruleset import *` works."""
    mod = importlib.import_module("gridpoints.ruleset")
    assert mod.__all__ == sorted(mod.__all__)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []


def test_py_typed_is_shipped() -> None:
    """The package carries the PEP 561 py.typed marker."""
    assert files("gridpoints").joinpath("py.typed").is_file()


def test_version() -> None:
    """__version__ is a dotted version string."""
    assert isinstance(gridpoints.__version__, str)
    assert all(part.isdigit() for part in gridpoints.__version__.split(".")[:2])


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (gridpoints.RulesetError, ValueError),
        (gridpoints.EventError, ValueError),
        (gridpoints.UnknownEventType, KeyError),
        (gridpoints.UnknownEventType, gridpoints.EventError),
        (gridpoints.SegregationError, gridpoints.EventError),
        (gridpoints.SettlementError, gridpoints.EventError),
        (gridpoints.IdempotencyConflict, ValueError),
        (gridpoints.StoreUnavailable, ConnectionError),
        (gridpoints.StoreUnavailable, gridpoints.StoreError),
        (gridpoints.SealKeyMismatch, ValueError),
        (gridpoints.SealKeyMismatch, gridpoints.GridpointsError),
        (gridpoints.StoreUrlError, ValueError),
        (gridpoints.StoreUrlError, gridpoints.GridpointsError),
        (gridpoints.SerializationFailure, gridpoints.StoreError),
        (gridpoints.IntegrityError, gridpoints.StoreError),
        (gridpoints.MissingExtra, ImportError),
        (gridpoints.UpgradeRefused, ValueError),
        (gridpoints.VersionMissing, LookupError),
    ],
)
def test_error_hierarchy(error: type[Exception], builtin: type[Exception]) -> None:
    """Every error is a GridpointsError; input errors also subclass the builtin they mean."""
    assert issubclass(error, gridpoints.GridpointsError)
    assert issubclass(error, builtin)


def test_every_exported_exception_is_a_gridpoints_error() -> None:
    """No public exception class escapes the GridpointsError root."""
    for name in PUBLIC:
        obj = getattr(gridpoints, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, gridpoints.GridpointsError), name


def test_missing_extra_names_the_install_line() -> None:
    """MissingExtra keeps the extra's name and prints the pip line."""
    error = gridpoints.MissingExtra("postgres", "the PostgreSQL store")
    assert error.extra == "postgres"
    assert "pip install 'gridpoints[postgres]'" in str(error)
