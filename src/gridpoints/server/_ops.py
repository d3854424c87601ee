"""Operations: Prometheus metrics and structured JSON logs.

Metrics (``prometheus-client``), one registry per app so that several apps in one process do not mix:

* ``gridpoints_events_total{outcome}`` — events decided: ``awarded``, ``deducted``, ``zero`` (decided with
  no points: capped, ignored, pending), ``duplicate`` (a retry answered with the original), ``rejected``
  (a business error: nothing written), ``failed`` (a store error: nothing written);
* ``gridpoints_request_seconds{operation}`` — latency of each operation;
* ``gridpoints_serialization_retries_total`` — transaction conflicts the engine retried (each invisible to
  the caller unless the retries ran out);
* ``gridpoints_store_errors_total{code}`` — store failures answered with 5xx.

Under several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory): every worker writes
its samples there and ``/metrics`` sums them, whichever worker answers.

Logs are one JSON object per line on the ``gridpoints.server`` logger, with the request id; a subject
appears only as a keyed pseudonym (the engine's pseudonymiser if it has one, else a key of the service's).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

__all__ = ["LOGGER", "JsonFormatter", "Metrics", "RetryWatch"]

LOGGER = logging.getLogger("gridpoints.server")

#: Latency buckets (seconds) around the figures a submit shows: a millisecond to a few seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_OUTCOMES = ("awarded", "deducted", "zero", "duplicate", "rejected", "failed")


class Metrics:
    """The service's Prometheus metrics (see the module docs)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter("gridpoints_events", "Events decided, by outcome", ["outcome"], registry=self.registry)
        self.latency = Histogram("gridpoints_request_seconds", "Request latency by operation", ["operation"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.retries = Counter("gridpoints_serialization_retries", "Transaction conflicts retried by the engine",
                               registry=self.registry)
        self.store_errors = Counter("gridpoints_store_errors", "Store failures answered with 5xx", ["code"],
                                    registry=self.registry)
        for outcome in _OUTCOMES:
            self.events.labels(outcome)

    def decided(self, points_and_duplicates: Iterable[tuple[int, bool]]) -> None:
        counts = dict.fromkeys(_OUTCOMES, 0)
        for points, duplicate in points_and_duplicates:
            outcome = "duplicate" if duplicate else "awarded" if points > 0 else "deducted" if points < 0 else "zero"
            counts[outcome] += 1
        for outcome, count in counts.items():
            if count:
                self.events.labels(outcome).inc(count)

    def exposition(self) -> bytes:
        """The text format of every sample: this process's, or all workers' under ``PROMETHEUS_MULTIPROC_DIR``."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class RetryWatch:
    """Turns engines' monotonic ``retries`` counts into increments of the retries metric, once each."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()

    def observe(self, engine_id: int, retries: int) -> None:
        with self._lock:
            delta = retries - self._seen.get(engine_id, 0)
            if delta > 0:
                self._seen[engine_id] = retries
                self._metrics.retries.inc(delta)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and every ``extra=`` member given."""

    # uvicorn adds color_message, the same text with terminal colours.
    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                                    "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in self._STANDARD and not name.startswith("_"):
                data[name] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)
