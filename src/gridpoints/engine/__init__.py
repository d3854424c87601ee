"""The engine: events in, decisions and ledger entries out; lifecycle mechanisms plug in below it."""

from gridpoints.engine._engine import Engine, EventInput

__all__ = ["Engine", "EventInput"]
