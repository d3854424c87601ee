"""The workbench's ASGI app (FastAPI): the page, lint as the author types, uploads, runs, reports, saving.

Routes (all under the app's root; the page uses relative URLs, so the app can be mounted under a prefix):

- ``GET /`` (``?lang=en`` for English): the page, the draft in its editor;
- ``POST /api/lint`` ``{"text", "lang"}``: the project's lint (:func:`gridpoints.lint`) of the text, diagnostics
  with line and column, each message in ``lang`` (``zh``, the default, or ``en``) and its stable message code;
- ``POST /api/events`` (the file's bytes; header ``X-Filename``): an events file (JSON Lines), checked line
  by line and kept for runs; 400 naming ``file:line`` for a line that is not a JSON object;
- ``POST /api/runs`` ``{"text", "source": {"preset", "households", "months", "seed"} | {"upload"}, "lang"}``:
  start a run of the draft against the current ruleset (422 with the diagnostics, in ``lang``, when the draft
  has errors);
  ``GET /api/runs/ID``: its phase and progress; ``GET /runs/ID/report`` and ``/runs/ID/draft-report``: the
  comparison's and the draft's HTML report (:mod:`gridpoints.whatif`'s); ``GET /api/runs/ID/residents``
  (``order``, ``offset``, ``limit``, ``grid``): the per-resident diff a page at a time;
- ``POST /api/save`` ``{"text"}``: write the draft as YAML to the save path (whole, or not at all).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import attrs
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from gridpoints.errors import RulesetError
from gridpoints.policy import Policy, load_ruleset
from gridpoints.ruleset import lint
from gridpoints.whatif import PRESETS, ReplayError, read_jsonl, render_compare_report, render_report
from gridpoints.workbench._jobs import Runs, Source, Synthetic, Uploaded, residents
from gridpoints.workbench._page import lang_of, render_page

#: A synthetic community's size unless the page asks for another (small: a run takes seconds).
DEFAULT_HOUSEHOLDS = 300
#: The largest upload taken (bytes); a district's logs belong to ``gridpoints simulate`` on Dask.
MAX_UPLOAD = 64 << 20


class _Text(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str = Field(max_length=1 << 20)


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    preset: str | None = None
    households: int = Field(DEFAULT_HOUSEHOLDS, ge=1, le=20000)
    months: int = Field(1, ge=1, le=12)
    seed: int = 1
    upload: str | None = None


class _LintRequest(_Text):
    lang: Literal["zh", "en"] = "zh"


class _RunRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str = Field(max_length=1 << 20)
    source: _Source
    lang: Literal["zh", "en"] = "zh"


@attrs.frozen(slots=True)
class Workbench:
    """What one workbench edits: the ruleset file of the current version (the draft starts as its text and
    every run compares with it), where Save writes the draft, and the preset offered first."""

    current: Path
    save_to: Path
    preset: str


def _text(text: str) -> str:
    """The editor's text as ruleset text: with a newline, so that the loader never takes a one-line draft
    for the name of a file to read."""
    return text if "\n" in text else text + "\n"


def _diagnostics(text: str, lang: Literal["zh", "en"]) -> list[dict[str, Any]]:
    return [{"severity": d.severity, "code": d.code, "line": d.issue.line, "column": d.issue.column,
             "path": d.issue.path, "message": d.issue.text(lang), "message_code": d.issue.code,
             "suggestion": d.issue.suggestion}
            for d in lint(_text(text))]


def _policy(text: str, lang: Literal["zh", "en"]) -> Policy:
    try:
        return load_ruleset(_text(text))
    except RulesetError as exc:
        count = len(exc.issues)
        raise HTTPException(422, {"diagnostics": _diagnostics(text, lang),
                                  "message": f"规则集无效（{count} 处问题）" if lang == "zh"
                                  else f"invalid ruleset ({count} problem(s))"}) from None


def create_app(ruleset: Path | None = None, *, save_to: Path | None = None, rulesets: Path | None = None,
               preset: str | None = None, work: Path | None = None) -> FastAPI:
    """The workbench app for ``ruleset``, the current version (None: ``preset``'s own ruleset, from
    ``rulesets``, by default ``rulesets/`` here or beside the source tree). ``preset`` is the synthetic
    community offered first (default: the one whose ruleset ``ruleset`` is, else ``pudong``). ``save_to``
    defaults to ``NAME.draft.yaml`` beside the current version; ``work`` is where runs keep their logs (a
    fresh temporary folder by default, removed at shutdown)."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if preset is None:
        stem = ruleset.stem if ruleset is not None else ""
        preset = next((name for name, p in PRESETS.items() if p.ruleset == stem), "pudong")
    if ruleset is None:
        ruleset = (rulesets if rulesets is not None else _rulesets_folder()) / f"{PRESETS[preset].ruleset}.yaml"
    if save_to is None:
        save_to = ruleset.with_name(f"{ruleset.stem}.draft.yaml")
    bench = Workbench(ruleset, save_to, preset)
    owned = tempfile.TemporaryDirectory(prefix="gridpoints-workbench-") if work is None else None
    runs = Runs(Path(owned.name) if owned is not None else Path(str(work)))
    uploads: dict[str, Uploaded] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        runs.close()
        if owned is not None:
            owned.cleanup()

    app = FastAPI(title="gridpoints workbench", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.workbench, app.state.runs = bench, runs

    @app.get("/", response_class=HTMLResponse)
    def page(lang: str = "zh") -> str:
        current = bench.current
        return render_page(lang=lang_of(lang), text=current.read_text(encoding="utf-8"), current=str(current),
                           presets=sorted(PRESETS), preset=bench.preset, draft_name=bench.save_to.name,
                           households=DEFAULT_HOUSEHOLDS)

    @app.post("/api/lint")
    def check(body: _LintRequest) -> dict[str, Any]:
        found = _diagnostics(body.text, body.lang)
        return {"diagnostics": found, "errors": sum(1 for d in found if d["severity"] == "error")}

    @app.post("/api/events")
    async def upload(request: Request) -> dict[str, Any]:
        data = await request.body()
        if len(data) > MAX_UPLOAD:
            raise HTTPException(413, f"events file over {MAX_UPLOAD >> 20} MiB")
        name = Path(unquote(request.headers.get("x-filename", "events.jsonl"))).name or "events.jsonl"
        upload_id = uuid.uuid4().hex[:12]
        path = runs.folder / f"upload-{upload_id}.jsonl"
        path.write_bytes(data)
        try:
            lines = sum(1 for _ in read_jsonl(path))
        except ReplayError as exc:
            path.unlink()
            raise HTTPException(400, str(exc).replace(str(path), name)) from None
        uploads[upload_id] = Uploaded(path, name, lines)
        return {"id": upload_id, "name": name, "lines": lines}

    @app.post("/api/runs")
    def start(body: _RunRequest) -> dict[str, Any]:
        source: Source
        choice = body.source
        if choice.upload is not None:
            found = uploads.get(choice.upload)
            if found is None:
                raise HTTPException(404, f"no upload {choice.upload!r}")
            source = found
        else:
            name = choice.preset or bench.preset
            if name not in PRESETS:
                raise HTTPException(400, f"unknown preset {name!r}; expected one of {', '.join(sorted(PRESETS))}")
            source = Synthetic(name, choice.households, choice.months, choice.seed)
        draft = _policy(body.text, body.lang)
        current = load_ruleset(bench.current)
        run = runs.start(current, draft, source)
        return run.status()

    def _run(run_id: str) -> Any:
        run = runs.get(run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r}")
        return run

    @app.get("/api/runs/{run_id}")
    def status(run_id: str) -> dict[str, Any]:
        found: dict[str, Any] = _run(run_id).status()
        return found

    def _done(run_id: str) -> dict[str, Any]:
        run = _run(run_id)
        if run.comparison is None:
            raise HTTPException(409, f"run {run_id} is {run.phase}")
        found: dict[str, Any] = run.comparison
        return found

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse)
    def compare_report(run_id: str, lang: str = "zh") -> str:
        return render_compare_report(_done(run_id), lang=lang_of(lang), category_names=_run(run_id).categories)

    @app.get("/runs/{run_id}/draft-report", response_class=HTMLResponse)
    def draft_report(run_id: str, lang: str = "zh") -> str:
        return render_report(_done(run_id)["new"], lang=lang_of(lang), category_names=_run(run_id).categories)

    @app.get("/api/runs/{run_id}/residents")
    def resident_rows(run_id: str, order: str = "delta", offset: int = Query(0, ge=0),
                      limit: int = Query(50, ge=1, le=1000), grid: str | None = None) -> dict[str, Any]:
        comparison = _done(run_id)
        try:
            found = residents(comparison, order=order, offset=offset, limit=limit, grid=grid)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        found["grids"] = sorted({*comparison["old"]["grid_of"].values(), *comparison["new"]["grid_of"].values()})
        return found

    @app.post("/api/save")
    def save(body: _Text) -> dict[str, Any]:
        target = bench.save_to
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Whole or not at all: a temporary file beside the target, then one rename.
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(body.text if body.text.endswith("\n") else body.text + "\n")
            os.replace(temporary, target)
        except OSError as exc:
            raise HTTPException(500, f"{target}: cannot save: {exc}") from None
        found = _diagnostics(body.text, "zh")
        return {"path": str(target), "errors": sum(1 for d in found if d["severity"] == "error")}

    return app


def _rulesets_folder() -> Path:
    """``rulesets/`` in the working directory, else beside the source tree (an editable install)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / "rulesets").is_dir():
            return base / "rulesets"
    return Path.cwd() / "rulesets"
