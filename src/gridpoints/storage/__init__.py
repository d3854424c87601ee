"""Stores: the protocol, the in-memory store, and lookup of adapters by URL or entry point.

Adapters register under the entry-point group ``gridpoints.stores``; the entry's name is the URL scheme
it serves (``sqlite``, ``postgresql`` …) and its value a callable taking the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from gridpoints.errors import GridpointsError, StoreUrlError
from gridpoints.storage._live import JsonlAnchors, JsonlSink, LiveStore, Retained, Sink
from gridpoints.storage._memory import MemoryStore
from gridpoints.storage._protocol import (
    HeadSealTransaction,
    NoticeOutbox,
    NoticeTransaction,
    SealedHeadStore,
    Store,
    StoreCapabilities,
    Transaction,
    capabilities_of,
)

__all__ = ["HeadSealTransaction", "JsonlAnchors", "JsonlSink", "LiveStore", "MemoryStore", "NoticeOutbox",
           "NoticeTransaction", "Retained", "SealedHeadStore", "Sink", "Store", "StoreCapabilities", "Transaction",
           "capabilities_of", "open_store"]


def open_store(url: str) -> Store:
    """Open the store a URL names: ``memory:`` or any scheme registered under ``gridpoints.stores``.

    A URL that names no registered store, or that the store it names cannot use, raises
    :class:`~gridpoints.errors.StoreUrlError` listing the accepted schemes; a store that cannot be
    reached raises :class:`~gridpoints.errors.StoreError`."""
    if not isinstance(url, str):
        raise StoreUrlError(f"a store URL is text, got {type(url).__name__}", schemes=_schemes())
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore()
    found = {ep.name: ep for ep in entry_points(group="gridpoints.stores")}
    if scheme not in found:
        shown = scheme if len(scheme) <= 40 and scheme.isprintable() else scheme[:37].encode("unicode_escape").decode()
        raise StoreUrlError(f"no store registered for URL scheme {shown!r}", schemes=_schemes(found))
    factory = found[scheme].load()
    try:
        store: Store = factory(url)
    except StoreUrlError as exc:
        raise StoreUrlError(exc.detail, schemes=_schemes(found)) from exc
    except GridpointsError:
        raise
    except ValueError as exc:  # a store's own parsing of the URL
        raise StoreUrlError(f"{scheme} store: {exc}", schemes=_schemes(found)) from exc
    return store


def _schemes(found: Mapping[str, Any] | None = None) -> list[str]:
    if found is None:
        found = {ep.name: ep for ep in entry_points(group="gridpoints.stores")}
    return sorted({"memory", *found})
