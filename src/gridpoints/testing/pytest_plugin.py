"""pytest plugin (entry point ``pytest11: gridpoints``): fairness properties of rulesets as test items.

``pytest --gridpoints-ruleset rulesets/pudong-sunshine.yaml [--gridpoints-examples N]`` adds one item
per standard fairness property per ruleset (``rulesets/pudong-sunshine.yaml::caps`` …) to whatever else
is collected; ``-k`` selects among them as usual. A failing item shows the property's message with the
shrunk counter-example as JSON Lines, in English or (``--gridpoints-lang zh``) Chinese. Without
``--gridpoints-ruleset`` the plugin adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gridpoints.policy._compile import Policy
    from gridpoints.testing.properties import PropertyCheck

# gridpoints and hypothesis are imported when a ruleset is collected, not when pytest loads the plugin:
# every pytest run in an environment with gridpoints installed loads it, with or without hypothesis.

__all__ = ["FairnessItem", "RulesetFile"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridpoints", "gridpoints fairness properties")
    group.addoption("--gridpoints-ruleset", action="append", default=[], metavar="PATH",
                    help="Check this ruleset's fairness properties (repeatable): one test item per property.")
    group.addoption("--gridpoints-examples", type=int, default=100, metavar="N",
                    help="Generated event streams per property (default 100).")
    group.addoption("--gridpoints-seed", type=int, default=None, metavar="SEED",
                    help="Seed for repeatable runs (default: random).")
    group.addoption("--gridpoints-lang", choices=("en", "zh"), default="en",
                    help="Language of the failure reports (default en).")


class RulesetFile(pytest.File):
    """A ruleset named by ``--gridpoints-ruleset``; collects one :class:`FairnessItem` per property."""

    def collect(self) -> Iterable[pytest.Item]:
        try:
            from gridpoints.testing.fairness import fairness_checks
        except ModuleNotFoundError as exc:
            raise pytest.UsageError(f"--gridpoints-ruleset needs {exc.name}: pip install hypothesis") from None
        from gridpoints.errors import RulesetError
        from gridpoints.policy import load_ruleset

        try:
            policy = load_ruleset(self.path)
        except RulesetError as exc:
            lang = self.config.getoption("gridpoints_lang")
            raise pytest.UsageError(f"--gridpoints-ruleset {self.path}: invalid ruleset:\n"
                                    + "\n".join(issue.describe(lang) for issue in exc.issues)) from None
        for name, check in fairness_checks().items():
            yield FairnessItem.from_parent(self, name=name, policy=policy, check=check)


class FairnessItem(pytest.Item):
    """One fairness property of one ruleset, run over ``--gridpoints-examples`` generated streams."""

    def __init__(self, *, policy: Policy, check: PropertyCheck, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.check = check

    def runtest(self) -> None:
        from gridpoints.testing.fairness import run_property

        config = self.config
        result = run_property(self.policy, self.name, self.check,
                              max_examples=config.getoption("gridpoints_examples"),
                              seed=config.getoption("gridpoints_seed"))
        if result.violation is not None:
            raise result.violation

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from gridpoints.testing._messages import render
        from gridpoints.testing.properties import FairnessViolation

        if isinstance(excinfo.value, FairnessViolation):
            lang = self.config.getoption("gridpoints_lang")
            return render("plugin.fails", lang, {"ref": self.policy.ref, "name": excinfo.value.property,
                                                 "detail": excinfo.value.text(lang)})
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.policy.ref} fairness: {self.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the items must be in the list before -k / -m deselection looks at it.
    for raw in config.getoption("gridpoints_ruleset"):
        path = Path(raw)
        if not path.is_absolute() and not path.is_file():
            # Paths in an ini file's addopts are meant from the project root, wherever pytest was started.
            path = config.rootpath / raw
        if not path.is_file():
            raise pytest.UsageError(f"--gridpoints-ruleset {raw}: no such file")
        node = RulesetFile.from_parent(session, path=path.resolve())
        found: list[pytest.Item | pytest.Collector] = list(node.collect())
        # Reported like any collected file, so "collected N items" and --collect-only count these items.
        session.ihook.pytest_collectreport(report=pytest.CollectReport(node.nodeid, "passed", None, found))
        items.extend(item for item in found if isinstance(item, pytest.Item))
