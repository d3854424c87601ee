"""Crash mid-batch: a writer process is SIGKILLed at a random moment inside ``submit_many``."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import time
from collections import Counter

import pytest
from _reliability import Record, crash_worker, open_store, scaled

from gridpoints.audit import verify

pytestmark = pytest.mark.reliability

BATCH = 1_000
#: Writers killed at once, each on a tenant of its own.
WAVE = 3


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
def test_a_batch_killed_midway_is_all_or_nothing(backend: str, database: tuple[str, str], record: Record) -> None:
    """Whenever the writer dies, each batch it started is either wholly recorded or not at all, and every
    ledger still verifies."""
    url, prefix = database
    kills = scaled(WAVE, 30)
    rng = random.Random(kills)
    outcomes = Counter[str]()
    partial = unverified = started = 0
    for wave in range(-(-kills // WAVE)):
        writers = min(WAVE, kills - wave * WAVE)
        tenants = [f"crash-{wave}-{w}" for w in range(writers)]
        last_started = _kill_wave(url, prefix, tenants, rng)
        store = open_store(url, prefix)
        for w, tenant in enumerate(tenants):
            batches = {f"c{w}-{b}": [f"c{w}-{b}-{n}" for n in range(BATCH)] for b in range(last_started[w] + 1)}
            # The write lock waits out any transaction the dead writer left behind; then one lookup.
            with store.transaction(tenant) as txn:
                found = txn.find_events([i for ids in batches.values() for i in ids])
            for ids in batches.values():
                present = sum(i in found for i in ids)
                started += 1
                if present == 0:
                    outcomes["absent"] += 1
                elif present == BATCH:
                    outcomes["committed"] += 1
                else:
                    partial += 1
            unverified += not verify(store, tenant).ok
        store.close()
    record(label="crash mid-batch", operations=started, violations=partial + unverified, kills=kills,
           batch=BATCH, batches_committed=outcomes["committed"], batches_absent=outcomes["absent"],
           partial=partial, unverified=unverified)
    assert partial == 0
    assert unverified == 0
    assert outcomes["absent"] > 0  # kills did land inside a batch


def _kill_wave(url: str, prefix: str, tenants: list[str], rng: random.Random) -> list[int]:
    """Start one writer per tenant together; SIGKILL each at a random point of a batch after its first.
    Returns each writer's last started batch number."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(tenants))
    pipes, processes = [], []
    for w, tenant in enumerate(tenants):
        parent, child = context.Pipe()
        process = context.Process(target=crash_worker, args=(url, prefix, tenant, w, BATCH, child),
                                  kwargs={"barrier": barrier}, daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    last_started = [-1] * len(tenants)
    try:
        for w, process in enumerate(processes):
            pipe = pipes[w]
            durations: list[float] = []
            began: dict[int, float] = {}
            deadline = time.monotonic() + 300
            # Let one batch finish to learn how long a batch takes, then kill inside a later one.
            target_batch = 1 + rng.randrange(2)
            while time.monotonic() < deadline:
                if not pipe.poll(1):
                    assert process.is_alive(), f"writer {w} died on its own (exit code {process.exitcode})"
                    continue
                kind, batch_no, moment = pipe.recv()
                if kind == "start":
                    began[batch_no] = moment
                    last_started[w] = batch_no
                    if batch_no == target_batch:
                        time.sleep(rng.uniform(0, 1.1 * sum(durations) / len(durations)))
                        os.kill(process.pid, signal.SIGKILL)
                        break
                else:
                    durations.append(moment - began[batch_no])
            else:
                raise AssertionError(f"writer {w} made no progress")
            with contextlib.suppress(EOFError):  # the dead writer's end is closed once drained
                while pipe.poll(0):  # a batch that started between the sleep and the kill
                    kind, batch_no, _ = pipe.recv()
                    if kind == "start":
                        last_started[w] = batch_no
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join()
    return last_started

