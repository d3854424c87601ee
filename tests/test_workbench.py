"""The policy authors' workbench: its HTTP API through the ASGI test client, and the page in a real headless
Chromium (Debian's ``chromium`` driven through Debian's ``chromedriver`` by selenium; one browser session).

The browser test types a typo into the draft and expects the diagnostic at that line (in the list and in
the line-number gutter), fixes it, tightens a cap, runs a comparison on a small synthetic community, waits
for the progress to finish, and expects every chart of the comparison report drawn (plotly's SVG with
marks) and the per-resident diff listed; then saves the draft. Without Chromium or its driver the browser
test skips, except under CI (``CI=true``), where it fails: install Debian's ``chromium`` and
``chromium-driver``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the workbench extra (FastAPI, uvicorn) is not installed")
pytest.importorskip("plotly", reason="the workbench's reports need the report extra (plotly)")

from fastapi.testclient import TestClient

from gridpoints.whatif import COMPARE_CHARTS
from gridpoints.workbench import TEXT, create_app

ROOT = Path(__file__).resolve().parents[1]
RULESET = ROOT / "rulesets" / "pudong-sunshine.yaml"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: A small community: a run takes seconds.
HOUSEHOLDS = 80


def _typo(text: str) -> tuple[str, int]:
    """The ruleset with the first ``points: 15`` misspelt ``pionts``, and that line's number."""
    bad = text.replace("points: 15", "pionts: 15", 1)
    return bad, next(i for i, line in enumerate(bad.splitlines(), start=1) if "pionts" in line)


def _wait(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if status["phase"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(RULESET, save_to=tmp_path / "drafts" / "draft.yaml", work=tmp_path)
    with TestClient(app) as found:
        yield found


def test_page_is_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    """The page speaks Chinese unless ?lang=en, holds the ruleset in its editor, and loads nothing remote."""
    zh, en = client.get("/").text, client.get("/?lang=en").text
    assert TEXT["zh"]["title"] in zh and TEXT["en"]["title"] in en and TEXT["zh"]["title"] not in en
    assert "pudong-sunshine" in zh
    for page in (zh, en):
        assert "http://" not in page and "https://" not in page and "<script src" not in page


def test_every_lint_code_has_a_label_in_both_languages() -> None:
    """Each diagnostic code that lint can give is labelled in Chinese and in English on the page."""
    import re

    from gridpoints.ruleset import _lint

    codes = set(re.findall(r'(?:_warn|Diagnostic)\("(?:error", )?"?([a-z-]+)"', Path(_lint.__file__).read_text(
        encoding="utf-8"))) - {"error", "warning"}
    codes |= {"duplicate-id", "unknown-rule", "unknown-category"}
    assert {"invalid", "unhandled-event", "cap-never-binds"} <= codes
    for lang in ("zh", "en"):
        assert sorted(c for c in codes if f"code_{c}" not in TEXT[lang]) == [], lang


def test_the_first_preset_offered_is_the_rulesets_own(tmp_path: Path) -> None:
    """Given tianhe's ruleset, the page offers tianhe's community first; without a ruleset, pudong's is current."""
    tianhe = create_app(ROOT / "rulesets" / "tianhe-vitality.yaml", work=tmp_path)
    with TestClient(tianhe) as found:
        assert '<option value="tianhe" selected>' in found.get("/").text
    bare = create_app(rulesets=ROOT / "rulesets", work=tmp_path)
    with TestClient(bare) as found:
        page = found.get("/").text
        assert '<option value="pudong" selected>' in page and "pudong-sunshine.yaml" in page
    assert bare.state.workbench.save_to == ROOT / "rulesets" / "pudong-sunshine.draft.yaml"


def test_lint_reports_the_loader_diagnostics_with_lines(client: TestClient) -> None:
    """The lint endpoint answers with gridpoints.lint's own diagnostics: line, code, message, suggestion."""
    bad, line = _typo(RULESET.read_text(encoding="utf-8"))
    found = client.post("/api/lint", json={"text": bad}).json()
    typo = [d for d in found["diagnostics"] if "pionts" in d["path"]]
    assert len(typo) == 1 and typo[0]["line"] == line and typo[0]["suggestion"] == "points"
    assert typo[0]["message"].startswith("未知的键 'pionts'；可用的键：") and typo[0]["message_code"] == "key.unknown"
    assert found["errors"] >= 1
    english = client.post("/api/lint", json={"text": bad, "lang": "en"}).json()
    (typo_en,) = [d for d in english["diagnostics"] if "pionts" in d["path"]]
    assert typo_en["message"].startswith("unknown key 'pionts'; expected one of:")
    assert client.post("/api/lint", json={"text": bad, "lang": "fr"}).status_code == 422
    clean = client.post("/api/lint", json={"text": RULESET.read_text(encoding="utf-8")}).json()
    assert clean["errors"] == 0
    # A one-line draft naming a file is text to check, not a file to read.
    named = client.post("/api/lint", json={"text": str(RULESET)}).json()
    assert named["errors"] == 1 and "pudong" not in str(named["diagnostics"][0].get("path"))


def test_a_run_compares_the_draft_with_the_current_version(client: TestClient, tmp_path: Path) -> None:
    """A run of a tightened cap on a synthetic community: who loses, the reports, the per-resident pages."""
    draft = RULESET.read_text(encoding="utf-8").replace("limit: 50", "limit: 30")
    bad, _ = _typo(draft)
    refused = client.post("/api/runs", json={"text": bad, "source": {"preset": "pudong"}})
    assert refused.status_code == 422 and refused.json()["detail"]["diagnostics"]
    started = client.post("/api/runs", json={"text": draft, "source": {"preset": "pudong", "households": HOUSEHOLDS}})
    assert started.status_code == 200, started.text
    status = _wait(client, started.json()["id"])
    assert status["phase"] == "done", status
    headline = status["headline"]
    assert headline["lost"] > 0 and headline["total"] < 0 and headline["issued_new"] < headline["issued_old"]
    run_id = status["id"]
    rows = client.get(f"/api/runs/{run_id}/residents", params={"limit": 5}).json()
    assert rows["total"] == headline["residents"] and rows["changed"] == headline["gained"] + headline["lost"]
    assert rows["rows"][0]["delta"] == min(r["delta"] for r in rows["rows"]) < 0
    assert rows["rows"][0]["new"] - rows["rows"][0]["old"] == rows["rows"][0]["delta"]
    page_two = client.get(f"/api/runs/{run_id}/residents", params={"limit": 5, "offset": 5}).json()
    assert {r["subject"] for r in page_two["rows"]}.isdisjoint(r["subject"] for r in rows["rows"])
    assert client.get(f"/api/runs/{run_id}/residents", params={"order": "sideways"}).status_code == 400
    report = client.get(f"/runs/{run_id}/report").text
    assert all(f'id="{chart}"' in report for chart in COMPARE_CHARTS)
    assert "chart-participation" in client.get(f"/runs/{run_id}/draft-report?lang=en").text
    assert client.get("/api/runs/nope").status_code == 404


def test_uploaded_events_are_checked_and_replayed(client: TestClient) -> None:
    """An uploaded log runs like a synthetic one; a line that is not JSON is refused naming the file and line."""
    text = RULESET.read_text(encoding="utf-8")
    lines = ['{"id": "e1", "type": "garbage_sorting", "subject": "r1", "grid": "g1", "household": "h1", '
             '"occurred_at": "2026-04-02T09:00:00+08:00", "attributes": {"quality": "A"}}',
             '{"id": "e2", "type": "patrol", "subject": "r2", "grid": "g1", "household": "h2", '
             '"occurred_at": "2026-04-02T10:00:00+08:00", "attributes": {"hours": 2}}']
    bad = client.post("/api/events", content="\n".join([lines[0], "{oops"]), headers={"X-Filename": "april.jsonl"})
    assert bad.status_code == 400 and "april.jsonl:2" in bad.json()["detail"]
    uploaded = client.post("/api/events", content="\n".join(lines) + "\n", headers={"X-Filename": "april.jsonl"})
    assert uploaded.json()["lines"] == 2
    started = client.post("/api/runs", json={"text": text.replace("A: 20", "A: 25"),
                                             "source": {"upload": uploaded.json()["id"]}})
    status = _wait(client, started.json()["id"])
    assert status["phase"] == "done", status
    rows = client.get(f"/api/runs/{status['id']}/residents", params={"order": "-delta"}).json()["rows"]
    assert [(r["subject"], r["delta"]) for r in rows] == [("r1", 5), ("r2", 0)]


def test_save_writes_the_draft_whole(client: TestClient, tmp_path: Path) -> None:
    """Save writes the text as YAML to the save path (creating its folder) and says where."""
    draft = RULESET.read_text(encoding="utf-8").replace("limit: 50", "limit: 30")
    saved = client.post("/api/save", json={"text": draft}).json()
    target = tmp_path / "drafts" / "draft.yaml"
    assert saved == {"path": str(target), "errors": 0}
    assert target.read_text(encoding="utf-8") == draft
    assert [p.name for p in target.parent.iterdir()] == ["draft.yaml"]


# -- in a real browser -------------------------------------------------------------------------------


def _browser_tools() -> tuple[str, str]:
    chromium = os.environ.get("GRIDPOINTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("GRIDPOINTS_CHROMEDRIVER") or shutil.which("chromedriver")
    if chromium is None or driver is None:
        message = "headless Chromium and its driver are needed: apt-get install -y chromium chromium-driver"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The workbench served by uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    app = create_app(RULESET, save_to=tmp_path / "draft.yaml", work=tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_typo_diagnostic_and_comparison_charts_in_chromium(served: str, tmp_path: Path) -> None:
    """In headless Chromium: a typo shows its Chinese diagnostic at its line; a comparison draws its charts; the
    language switch keeps the draft and shows the diagnostic in English."""
    chromium, driver_path = _browser_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(served)
        assert browser.title == TEXT["zh"]["title"]
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#diagnostics li.ok"))
        editor = browser.find_element(By.ID, "source")
        text = editor.get_property("value")
        _, line = _typo(text)
        at = text.index("points: 15")

        def select(start: int, end: int) -> None:
            browser.execute_script("arguments[0].focus(); arguments[0].setSelectionRange(arguments[1], arguments[2]);",
                                   editor, start, end)

        select(at, at + len("points"))
        editor.send_keys("pionts")
        marked = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#diagnostics li.error[data-line="{line}"]'))
        assert TEXT["zh"]["line"].format(line=line) in marked[0].text
        assert "未知的键 'pionts'；可用的键：" in marked[0].text and marked[0].text.endswith("（建议：'points'）")
        gutter = browser.find_element(By.CSS_SELECTOR, f'#gutter span[data-line="{line}"]')
        assert "error" in (gutter.get_attribute("class") or "")

        select(at, at + len("pionts"))
        editor.send_keys("points")
        cap = editor.get_property("value").index("limit: 50") + len("limit: ")
        select(cap, cap + 2)
        editor.send_keys("30")
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#diagnostics li.ok"))
        households = browser.find_element(By.ID, "households")
        households.clear()
        households.send_keys(str(HOUSEHOLDS))
        browser.find_element(By.ID, "run").click()
        WebDriverWait(browser, 300).until(
            lambda b: b.find_element(By.ID, "status").get_attribute("data-phase") in ("done", "failed"))
        assert browser.find_element(By.ID, "status").get_attribute("data-phase") == "done", \
            browser.find_element(By.ID, "status").text
        assert browser.find_element(By.ID, "progress").get_property("value") == 1
        assert browser.find_element(By.ID, "headline").text
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#resident-table tbody tr")) == 50)
        first = browser.find_elements(By.CSS_SELECTOR, "#resident-table tbody tr")[0]
        assert "down" in (first.find_elements(By.TAG_NAME, "td")[4].get_attribute("class") or "")

        browser.switch_to.frame(browser.find_element(By.ID, "report"))

        def drawn(b: Any) -> bool:
            return all(b.find_elements(By.CSS_SELECTOR, f"#{chart} .main-svg")
                       and b.find_elements(By.CSS_SELECTOR, f"#{chart} .trace path") for chart in COMPARE_CHARTS)

        WebDriverWait(browser, 120).until(drawn)
        browser.switch_to.default_content()
        browser.save_screenshot(str(tmp_path / "workbench.png"))

        browser.find_element(By.ID, "save").click()
        wait.until(lambda b: b.find_element(By.ID, "save-note").text)
        assert (tmp_path / "draft.yaml").read_text(encoding="utf-8").rstrip("\n") == \
            editor.get_property("value").rstrip("\n")
        assert "limit: 30" in (tmp_path / "draft.yaml").read_text(encoding="utf-8")

        # The page's language switch keeps the draft and shows the same diagnostic in English.
        browser.find_element(By.ID, "language").click()
        wait.until(lambda b: b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#diagnostics li.ok"))
        editor = browser.find_element(By.ID, "source")
        assert "limit: 30" in editor.get_property("value")
        select(at, at + len("points"))
        editor.send_keys("pionts")
        marked = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#diagnostics li.error[data-line="{line}"]'))
        assert TEXT["en"]["line"].format(line=line) in marked[0].text
        assert "unknown key 'pionts'; expected one of:" in marked[0].text
        assert marked[0].text.endswith("(did you mean 'points'?)")
    finally:
        browser.quit()


def test_the_command_serves_the_ruleset_and_refuses_a_broken_one(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    """`gridpoints workbench RULESET` serves it (serve is replaced here); a ruleset with errors exits 1."""
    from click.testing import CliRunner

    import gridpoints.workbench
    from gridpoints.cli import command

    served: list[tuple[Any, ...]] = []
    monkeypatch.setattr(gridpoints.workbench, "serve", lambda *args, **options: served.append((args, options)))
    result = CliRunner().invoke(command(), ["workbench", str(RULESET), "--port", "9876"])
    assert result.exit_code == 0, result.output
    assert served == [((RULESET,), {"host": "127.0.0.1", "port": 9876, "save_to": None, "preset": None})]
    assert "http://127.0.0.1:9876/" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(_typo(RULESET.read_text(encoding="utf-8"))[0], encoding="utf-8")
    refused = CliRunner().invoke(command(), ["workbench", str(broken)])
    assert refused.exit_code == 1 and "pionts" in refused.output and len(served) == 1
