"""Stores: the protocol, the in-memory store, and lookup of adapters by URL or entry point.

Adapters register under the entry-point group ``gridpoints.stores``; the entry's name is the URL scheme
it serves (``sqlite``, ``postgresql`` …) and its value a callable taking the URL.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from gridpoints.storage._live import JsonlAnchors, JsonlSink, LiveStore, Retained, Sink
from gridpoints.storage._memory import MemoryStore
from gridpoints.storage._protocol import (
    NoticeOutbox,
    NoticeTransaction,
    Store,
    StoreCapabilities,
    Transaction,
    capabilities_of,
)

__all__ = ["JsonlAnchors", "JsonlSink", "LiveStore", "MemoryStore", "NoticeOutbox", "NoticeTransaction", "Retained",
           "Sink", "Store", "StoreCapabilities", "Transaction", "capabilities_of", "open_store"]


def open_store(url: str) -> Store:
    """Open the store a URL names: ``memory:`` or any scheme registered under ``gridpoints.stores``."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore()
    found = {ep.name: ep for ep in entry_points(group="gridpoints.stores")}
    if scheme not in found:
        known = ", ".join(sorted({"memory", *found}))
        raise ValueError(f"no store registered for URL scheme {scheme!r} (known: {known})")
    factory = found[scheme].load()
    store: Store = factory(url)
    return store
