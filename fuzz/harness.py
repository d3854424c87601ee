"""Fuzzing gridpoints' two doors for outside input: the ruleset loader and the engine's event intake.

    python fuzz/harness.py ruleset --seconds 60     # YAML text → lint() and load_ruleset()
    python fuzz/harness.py events --seconds 60      # event mappings → Engine.submit on two stores

With atheris installed (``pip install atheris``; the ``test`` extra has it on Linux) the inputs come from
atheris' coverage-guided mutation (libFuzzer) of the corpus in fuzz/corpus.py; without it, from a seeded
random mutation of the same corpus (``--engine random`` forces that). Either way the run is bounded by
``--seconds`` and ``--runs``, and ends with one line::

    fuzz ruleset (atheris): 48211 inputs in 60.0 s, 0 untyped exceptions

An *untyped* exception is anything but a :class:`~gridpoints.errors.GridpointsError` (a ``RulesetError``,
``EventError`` …), or any exception from ``lint`` (which must never raise), or a decision the store did not
keep. Each is printed with the input that raised it (and saved under ``--crashes DIR`` if given); the exit
status is 1 if there was one. The test suite runs both targets briefly (tests/test_fuzz.py); the figures
of a longer run are in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  # fuzz/corpus.py, beside this file

try:
    import atheris
except ImportError:  # the random engine stands in
    atheris = None


def _import_targets() -> Any:
    if atheris is not None:
        with atheris.instrument_imports(include=["gridpoints", "yaml"]):
            import gridpoints
    else:
        import gridpoints
    return gridpoints


# -- the two targets ------------------------------------------------------------------------------------------


class Target:
    """Runs one input, counts it, and keeps every untyped exception with the input that raised it."""

    def __init__(self, name: str, deadline: float, runs: int, crashes: Path | None) -> None:
        self.name = name
        self.deadline = deadline
        self.runs = runs
        self.crashes = crashes
        self.count = 0
        self.untyped: list[tuple[str, str]] = []
        self.started = time.monotonic()

    def record(self, data: bytes, exc: BaseException) -> None:
        summary = f"{type(exc).__name__}: {str(exc)[:300]}"
        self.untyped.append((summary, repr(data[:400])))
        print(f"UNTYPED {summary}\n  input: {data[:400]!r}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        if self.crashes is not None:
            self.crashes.mkdir(parents=True, exist_ok=True)
            (self.crashes / f"{self.name}-{len(self.untyped)}.bin").write_bytes(data)

    def done(self) -> bool:
        return self.count >= self.runs or time.monotonic() >= self.deadline

    def report(self, engine: str) -> int:
        elapsed = time.monotonic() - self.started
        print(f"fuzz {self.name} ({engine}): {self.count} inputs in {elapsed:.1f} s, "
              f"{len(self.untyped)} untyped exceptions", flush=True)
        return 1 if self.untyped else 0


def ruleset_target(gridpoints: Any) -> Callable[[bytes], None]:
    from gridpoints.errors import GridpointsError

    def run(data: bytes) -> None:
        text = data.decode("utf-8", "surrogatepass") if _utf8(data) else data.decode("latin-1")
        found = gridpoints.lint(text)  # must never raise
        if not isinstance(found, list):
            raise AssertionError(f"lint returned {type(found).__name__}")
        with contextlib.suppress(GridpointsError):  # a typed refusal is the expected outcome
            gridpoints.load_ruleset(text)

    return run


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


EVENT_RULESET = corpus.BASE.replace("    points: 5\n", "    points: {per: hours, each: 10}\n") + """\
  - {id: report, on: report, points: 5, verify: {by: [grid_worker], within: 7d}}
  - {id: litter, on: litter, points: -10, repair: clean, appeal: {within: 7d}}
  - {id: sorting, on: sorting, points: {by: quality, table: {A: 20, B: 10}, default: 1}}
  - {id: hazard, on: hazard, points: {range: [-20, 20], from: level}}
repairs:
  - {id: clean, task: [cleanup], per: hours, quantity: 2, within: 30d}
limits:
  - {id: day, kind: cap, window: day, limit: 50, categories: [reward]}
"""
_TYPES = ("e", "report", "litter", "sorting", "hazard", "cleanup", "verify", "reject", "appeal", "nope", "")
_FIELDS = ("id", "type", "subject", "grid", "occurred_at", "attributes", "household", "community", "actor")
_NAMES = ("hours", "quality", "level", "event", "repair", "outcome", "note", "")


class Values:
    """Values drawn from the fuzzer's bytes: text (with surrogates), integers of any size, floats (NaN, ±inf),
    times (with and without offsets, at the ends of the calendar), None, lists and mappings."""

    def __init__(self, data: bytes) -> None:
        self.fdp = atheris.FuzzedDataProvider(data) if atheris is not None else _RandomProvider(data)

    def pick(self, options: tuple[Any, ...]) -> Any:
        return options[self.fdp.ConsumeIntInRange(0, len(options) - 1)]

    def value(self, depth: int = 0) -> Any:
        fdp = self.fdp
        kind = fdp.ConsumeIntInRange(0, 11)
        if kind == 0:
            return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
        if kind == 1:
            return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 40))
        if kind == 2:
            return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
        if kind == 3:
            return self.pick((float("nan"), float("inf"), -float("inf"), 10**5000, -(2**63), 2**63, 2**64))
        if kind == 4:
            year = self.pick((1, 2, 1899, 1900, 2026, 8999, 9000, 9999))
            offset = self.pick(("", "Z", "+08:00", "-12:00", "+14:00", "+23:59"))
            return f"{year:04d}-{fdp.ConsumeIntInRange(1, 12):02d}-{fdp.ConsumeIntInRange(1, 28):02d}T23:59:59{offset}"
        if kind == 5:
            return None
        if kind == 6:
            return fdp.ConsumeBool()
        if kind == 7 and depth < 2:
            return [self.value(depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
        if kind == 8 and depth < 2:
            return {self.text(): self.value(depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))}
        if kind == 9:
            return "x" * self.pick((4096, 4097, 70_000))
        if kind == 10:
            return datetime(2026, 5, 1, 10)  # a naive datetime object
        return self.pick(("e1", "alice", "g1", "h1", "wang", "A", "B", "upheld", "dismissed", "gp:x", "subject:x"))

    def text(self) -> str:
        return self.pick(_NAMES) if self.fdp.ConsumeBool() else self.fdp.ConsumeUnicode(12)


def events_target(gridpoints: Any) -> Callable[[bytes], None]:
    from gridpoints.errors import GridpointsError

    policy = gridpoints.load_ruleset(EVENT_RULESET)
    engines = [gridpoints.Engine(policy, store=gridpoints.MemoryStore()),
               gridpoints.Engine(policy, store=gridpoints.open_store("sqlite://"))]
    for engine in engines:
        engine.register("wang", grid="g1", roles=["grid_worker"])
    serial = iter(range(10**12))

    def run(data: bytes) -> None:
        values = Values(data)
        base = {"id": f"f{next(serial)}", "type": values.pick(_TYPES), "subject": "alice", "grid": "g1",
                "occurred_at": "2026-05-01T10:00:00+08:00", "actor": "wang",
                "attributes": {"hours": 2, "quality": "A", "level": 5, "event": "f0", "repair": "f0",
                               "outcome": "upheld"}}
        for _ in range(values.fdp.ConsumeIntInRange(0, 4)):
            field = values.pick(_FIELDS)
            if field == "attributes" and isinstance(base["attributes"], dict) and values.fdp.ConsumeBool():
                base["attributes"][values.text()] = values.value()
            else:
                base[field] = values.value()
        outcomes = []
        for engine in engines:
            try:
                decision = engine.submit(base)
            except GridpointsError as exc:
                outcomes.append(type(exc).__name__)
                continue
            if engine.decision(decision.event_id) is None:
                raise AssertionError(f"decision for {decision.event_id!r} was not recorded")
            outcomes.append(decision.points)
        if outcomes[0] != outcomes[1]:
            raise AssertionError(f"the stores disagree: memory {outcomes[0]!r}, sqlite {outcomes[1]!r}")

    return run


# -- engines --------------------------------------------------------------------------------------------------


class _RandomProvider:
    """The few FuzzedDataProvider calls the targets make, from a seeded random stream (the fallback engine)."""

    def __init__(self, data: bytes) -> None:
        self.rng = random.Random(data)

    def ConsumeIntInRange(self, low: int, high: int) -> int:  # atheris' spelling
        return self.rng.randint(low, high)

    def ConsumeInt(self, size: int) -> int:
        return self.rng.getrandbits(size * 8) - 2 ** (size * 8 - 1)

    def ConsumeBool(self) -> bool:
        return self.rng.random() < 0.5

    def ConsumeFloat(self) -> float:
        return self.rng.choice((float("nan"), float("inf"), -0.0, 1e308, 5e-324, self.rng.uniform(-1e9, 1e9)))

    def ConsumeRegularFloat(self) -> float:
        return self.rng.uniform(-1e18, 1e18)

    def ConsumeUnicode(self, count: int) -> str:
        return "".join(chr(self.rng.choice((self.rng.randrange(0x80), self.rng.randrange(0xD800, 0xE000),
                                             self.rng.randrange(0x110000)))) for _ in range(count))


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            del data[at:at + rng.randint(1, 8)]
        elif op == 1:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            data[at:at] = rng.choice((b"&a ", b"*a", b"[", b"]", b"{", b": ", b"\n  - ", b"!!", b".nan", b"-",
                                      b"9" * 30))
        elif data:
            data[at % len(data)] = rng.randrange(256)
    return bytes(data)


def seeds(name: str) -> list[bytes]:
    if name == "ruleset":
        texts = [corpus.BASE] + [text for text, _ in corpus.RULESETS.values()]
        for path in sorted((HERE.parent / "rulesets").glob("*.yaml")):
            texts.append(path.read_text(encoding="utf-8"))
        return [text.encode("utf-8", "surrogatepass") for text in texts]
    # The event target reads its values from the bytes (FuzzedDataProvider): any bytes are a start.
    return [name.encode() * 8 for name in corpus.EVENTS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("target", choices=("ruleset", "events"))
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long (default 60)")
    parser.add_argument("--runs", type=int, default=10**12, help="stop after this many inputs")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random engine (default 1)")
    parser.add_argument("--crashes", type=Path, help="save each input that raised an untyped exception here")
    args = parser.parse_args(argv)
    engine = "atheris" if atheris is not None and args.engine != "random" else "random"
    if args.engine == "atheris" and atheris is None:
        parser.error("atheris is not installed: pip install atheris")
    gridpoints = _import_targets() if engine == "atheris" else __import__("gridpoints")
    run = ruleset_target(gridpoints) if args.target == "ruleset" else events_target(gridpoints)
    target = Target(args.target, time.monotonic() + args.seconds, args.runs, args.crashes)

    def one(data: bytes) -> None:
        if target.done():
            sys.stdout.flush()
            os._exit(target.report(engine))  # libFuzzer's loop does not return: end the process here
        target.count += 1
        try:
            run(data)
        except Exception as exc:
            target.record(data, exc)

    if engine == "atheris":
        corpus_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"gridpoints-fuzz-{args.target}-{os.getpid()}"
        corpus_dir.mkdir(parents=True, exist_ok=True)
        for index, data in enumerate(seeds(args.target)):
            (corpus_dir / f"seed-{index}").write_bytes(data)
        atheris.Setup([sys.argv[0], "-max_len=8192", "-rss_limit_mb=4096", str(corpus_dir)], one)
        atheris.Fuzz()
        return target.report(engine)  # reached only if libFuzzer stops first
    rng = random.Random(args.seed)
    pool = seeds(args.target)
    while True:
        one(_mutate(rng, rng.choice(pool)) if pool and rng.random() < 0.9 else rng.randbytes(rng.randint(0, 200)))


if __name__ == "__main__":
    sys.exit(main())
