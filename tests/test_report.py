"""HTML reports: content and escaping checked on the text, drawing checked for real in headless Chromium.

The browser tests render a report from a hand-made summary, let Chromium run its scripts, then read the DOM
(every chart ``<div>`` must hold plotly's SVG with drawn marks) and a screenshot (decoded with zlib: it must
hold chart colours, not a blank page). Without Chromium they skip, except under CI (``CI=true``), where a
missing browser is a failure: install Debian's ``chromium`` and ``fonts-noto-cjk``.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gridpoints.errors import MissingExtra
from gridpoints.whatif._report import (
    COMPARE_CHARTS,
    REPORT_CHARTS,
    render_report,
    write_compare_report,
    write_report,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

try:
    import plotly  # noqa: F401  (only probing for the extra)
except ImportError:
    if IN_CI:
        raise
    pytest.skip("the report extra (plotly) is not installed", allow_module_level=True)

MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]
GRIDS = ["A1", "A2", "B1", "B2"]


def make_summary(ruleset: str = "pudong-sunshine@1", shift: int = 0) -> dict[str, Any]:
    """A small, plausible run summary of four grids over four months, in the simulate contract's shape."""
    heat: dict[str, dict[str, dict[str, float]]] = {}
    for g, grid in enumerate(GRIDS):
        heat[grid] = {}
        for m, month in enumerate(MONTHS):
            heat[grid][month] = {"base": 10.0, "reward": 12.5 + 3 * g + 2 * m + shift,
                                 "deduction": -(1.0 + 0.5 * g + (4 if (grid, month) == ("B2", "2026-04") else 0))}
    heat["B2"]["2026-01"] = {}
    earned = {f"r{i:02d}": (i * i) % 97 + 5 + shift * (i % 3) for i in range(40)}
    return {
        "ruleset": ruleset, "period": {"start": "2026-01-01", "end": "2026-04-30"},
        "totals": {"issued": 12840, "deducted": 620, "net": 12220, "redeemed": 3100, "subjects": 40},
        "by_category": {"base": {"issued": 4000, "deducted": 0},
                        "reward": {"issued": 8840 + 100 * shift, "deducted": 0},
                        "deduction": {"issued": 0, "deducted": 620}},
        "by_rule": {"garbage-sorting": {"issued": 5000}, "noise": {"deducted": 620}},
        "limits": {"daily-reward-cap": {"applied": 31, "bit": 240}, "grid-share": {"applied": 2, "bit": 55}},
        "participation": {grid: {month: min(1.0, 0.2 + 0.12 * m + 0.05 * g) for m, month in enumerate(MONTHS)}
                          for g, grid in enumerate(GRIDS)},
        "earned_by_subject": earned,
        "grid_of": {subject: GRIDS[i % 4] for i, subject in enumerate(earned)},
        "heat": heat,
        "concentration": {"gini": 0.31, "top10": 0.24, "top1": 0.04,
                          "lorenz": [[0, 0], [0.2, 0.06], [0.4, 0.18], [0.6, 0.35], [0.8, 0.6], [0.9, 0.76],
                                     [1, 1]]},
        "leaderboard": [{"subject": "r09", "grid": "A2", "earned": 101}, {"subject": "r30", "grid": "B2",
                                                                          "earned": 98},
                        {"subject": "<script>alert(1)</script>", "grid": "A1", "earned": 90}],
        "repairs": {"opened": 12, "completed": 9, "restored": 90},
        "redemptions": {"count": 41, "points": 3100, "by_item": {"daily-goods": 25, "health-check": 4}},
        "liability": {"outstanding": 9120},
    }


def make_comparison() -> dict[str, Any]:
    """Two summaries of the same residents under an old and a new ruleset, with deltas and rank stats."""
    new = make_summary("pudong-sunshine@2", shift=3)
    new["concentration"] = {"gini": 0.24, "top10": 0.19, "top1": 0.03,
                            "lorenz": [[0, 0], [0.2, 0.09], [0.4, 0.24], [0.6, 0.42], [0.8, 0.66], [1, 1]]}
    return {
        "old": make_summary(), "new": new,
        "deltas": {"distribution": {"gini": {"old": 0.31, "new": 0.24, "delta": -0.07}},
                   "gainers": [{"subject": "r01", "old": 6, "new": 9, "delta": 3}],
                   "losers": [{"subject": "r07", "old": 54, "new": 50, "delta": -4}]},
        "rank": {"top10_overlap": 8, "spearman": 0.93},
    }


class Summary:
    """A summary object as simulate returns it: only ``to_dict()``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


# -- the HTML text -------------------------------------------------------------------------------------------


class Attributes(HTMLParser):
    """Collects (tag, attributes) of every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_has_every_chart_and_chinese_labels(tmp_path: Path) -> None:
    """A report holds one div per chart, Chinese headings by default and the summary's figures."""
    path = write_report(tmp_path / "report.html", make_summary())
    text = path.read_text(encoding="utf-8")
    for chart in REPORT_CHARTS:
        assert f'id="{chart}"' in text
    assert '<html lang="zh-CN">' in text
    for label in ("积分运行报告", "积分分布洛伦兹曲线", "网格积分热力图", "各网格月度参与率", "基础分", "12,840"):
        assert label in text


def test_english_labels(tmp_path: Path) -> None:
    """lang="en" gives English headings and no Chinese chart titles."""
    text = write_report(tmp_path / "r.html", make_summary(), lang="en").read_text(encoding="utf-8")
    assert "Lorenz curve of points earned" in text and "Monthly participation by grid" in text
    assert "积分分布洛伦兹曲线" not in text


CORRECTIONS = {"count": 2, "points": 0, "after_close": 1, "rows": [
    {"event": "e-0042", "subject": "g01-h001-1", "window": "2026-03", "corrected_in": "2026-04", "points": 20,
     "reason": "<b>重复上报</b>", "actor": "staff-1", "after_close": True},
    {"event": "e-0107", "subject": "g02-h004-2", "window": "2026-04", "corrected_in": "2026-04", "points": -20,
     "reason": "认错人", "actor": "staff-2", "after_close": False}]}
LATE = {"events": 3, "points": 25, "by_window": {"2026-03": {"events": 3, "points": 25}}}


def _section(text: str, heading: str) -> str:
    """The HTML of the section under ``heading``."""
    start = text.index(f"<h2>{heading}</h2>")
    return text[start:text.index("</section>", start)]


@pytest.mark.parametrize(("lang", "labels"), [
    ("zh", ("冲正记录", "原周期", "冲正周期", "冲正积分", "原因", "经办人", "冲正时原周期已结账", "是", "否",
            "其中 1 笔冲正的是已结账周期的事件", "迟到事件", "所在的已结账周期", "共 3 个迟到事件")),
    ("en", ("Corrections", "Event period", "Corrected in", "Points reversed", "Reason", "By",
            "Period closed then", "yes", "no", "1 of them corrected an event of a period already closed",
            "Late events", "Closed period", "3 late events, 25 points in all")),
])
def test_the_report_tables_corrections_and_late_events(tmp_path: Path, lang: str, labels: tuple[str, ...]) -> None:
    """Each correction is a row (event, subject, both periods, points, reason escaped, actor, closed or not) and
    late events a row per closed period, labelled in the report's language."""
    summary = {**make_summary(), "corrections": CORRECTIONS, "late": LATE}
    text = write_report(tmp_path / "r.html", summary, lang=lang).read_text(encoding="utf-8")  # type: ignore[arg-type]
    for label in labels:
        assert label in text, label
    corrections = _section(text, "冲正记录" if lang == "zh" else "Corrections")
    for cell in ("e-0042", "g01-h001-1", "2026-03", "2026-04", ">20<", ">-20<", "staff-2", "&lt;b&gt;重复上报"):
        assert cell in corrections, cell
    assert "<b>重复上报" not in text
    late = _section(text, "迟到事件" if lang == "zh" else "Late events")
    assert "<td>2026-03</td>" in late and '<td class="num">25</td>' in late


def test_a_report_without_corrections_says_so(tmp_path: Path) -> None:
    """No corrections and no late events: both sections are there and say there were none."""
    text = write_report(tmp_path / "r.html", make_summary()).read_text(encoding="utf-8")
    assert "<p>无</p>" in _section(text, "冲正记录") and "<p>无</p>" in _section(text, "迟到事件")


def test_unknown_language_is_refused() -> None:
    """A language other than zh or en raises ValueError."""
    with pytest.raises(ValueError, match="lang"):
        render_report(make_summary(), lang="fr")  # type: ignore[arg-type]


def test_report_is_self_contained(tmp_path: Path) -> None:
    """No script, stylesheet, image or frame is loaded from elsewhere: plotly.js is inline."""
    text = write_report(tmp_path / "r.html", make_summary()).read_text(encoding="utf-8")
    parser = Attributes()
    parser.feed(text)
    remote = [(tag, attrs) for tag, attrs in parser.tags
              for name in ("src", "href") if (attrs.get(name) or "").startswith(("http://", "https://", "//"))]
    assert remote == []
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all("src" not in attrs for attrs in scripts)
    assert "Plotly.newPlot" in text and len(text) > 1_000_000


def test_resident_text_is_escaped(tmp_path: Path) -> None:
    """A subject id that looks like markup shows as text and cannot open a script element."""
    text = write_report(tmp_path / "r.html", make_summary()).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_accepts_objects_with_to_dict(tmp_path: Path) -> None:
    """Objects with to_dict() are accepted for summaries and comparisons alike."""
    report = write_report(tmp_path / "a.html", Summary(make_summary()))
    compare = write_compare_report(tmp_path / "b.html", Summary(make_comparison()))
    assert "pudong-sunshine@1" in report.read_text(encoding="utf-8")
    assert "pudong-sunshine@2" in compare.read_text(encoding="utf-8")


def test_empty_summary_still_renders(tmp_path: Path) -> None:
    """A summary with no data draws every chart marked as having none instead of failing."""
    text = write_report(tmp_path / "r.html", {}).read_text(encoding="utf-8")
    assert all(f'id="{chart}"' in text for chart in REPORT_CHARTS)
    assert text.count("无数据") >= len(REPORT_CHARTS)


def test_not_a_mapping_is_refused(tmp_path: Path) -> None:
    """Something neither a mapping nor to_dict()-able raises TypeError naming its type."""
    with pytest.raises(TypeError, match="list"):
        write_report(tmp_path / "r.html", [1, 2])


def test_missing_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without plotly, writing a report raises MissingExtra with the pip install line."""
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(MissingExtra, match=r"gridpoints\[report\]"):
        write_report(tmp_path / "r.html", make_summary())
    assert not (tmp_path / "r.html").exists()


def test_compare_report_content(tmp_path: Path) -> None:
    """A compare report holds its charts, both rulesets, rank stats and the gainers' rows."""
    text = write_compare_report(tmp_path / "c.html", make_comparison()).read_text(encoding="utf-8")
    for chart in COMPARE_CHARTS:
        assert f'id="{chart}"' in text
    for label in ("积分细则对比报告", "pudong-sunshine@1", "pudong-sunshine@2", "斯皮尔曼等级相关", "r01"):
        assert label in text


def _visible(text: str) -> str:
    """The text of a page outside its scripts and styles."""
    parser = VisibleText()
    parser.feed(text)
    return " ".join(parser.parts)


class VisibleText(HTMLParser):
    """Collects the text a reader sees: everything outside <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _rows(text: str, first_cell: str) -> list[list[str]]:
    """The cells of every table row whose first cell is ``first_cell``."""
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", text):
        cells = [html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        if cells and cells[0] == first_cell:
            found.append(cells)
    return found


@pytest.mark.parametrize(("lang", "headers"), [("zh", ["限额", "检查次数", "被削减的奖励(次)", "削减积分"]),
                                               ("en", ["Limit", "Applied", "Awards cut", "Points cut"])])
def test_the_limits_table_shows_applied_awards_cut_and_points_cut_apart(lang: Any, headers: list[str]) -> None:
    """Three labelled columns, each from its own figure: how often a limit applied, how many awards it cut,
    how many points it cut."""
    summary = make_summary()
    summary["limits"] = {"daily-reward-cap": {"applied": 62090, "bit": 902, "points_cut": 9932}}
    text = render_report(summary, lang=lang)
    assert _rows(text, headers[0]) == [headers]
    assert _rows(text, "daily-reward-cap") == [["daily-reward-cap", "62,090", "902", "9,932"]]


def test_numbers_have_thousands_separators_and_no_scientific_notation() -> None:
    """Money, balances and shares read as written numbers: 83,620.4, 15,000,000, 0.0042."""
    summary = make_summary()
    summary["liability"] = {"points": 836204, "value": 83620.4, "value_high": 1.5e7, "value_per_point": 0.0042,
                            "balance_p90": 527.9000000000001}
    text = _visible(render_report(summary))
    assert "83,620.4" in text and "15,000,000" in text and "0.0042" in text and "527.9" in text
    assert re.search(r"\d[eE][+-]?\d", text) is None


def test_one_month_of_participation_is_bars_with_the_mean() -> None:
    """With one month the participation chart is a bar per grid (x the grids) and a dashed mean line."""
    import plotly.graph_objects as go

    from gridpoints.whatif._report import _Page, _participation_figure

    rates = {f"g{i:02d}": {"2026-04": 0.5 + i / 100} for i in range(1, 26)}
    figure = _participation_figure(_Page("zh", None), go, rates)
    (bars,) = figure.data
    assert bars.type == "bar" and list(bars.x) == sorted(rates)
    assert [shape.line.dash for shape in figure.layout.shapes] == ["dash"]
    many = _participation_figure(_Page("zh", None), go, {g: {"2026-03": 0.4, "2026-04": r["2026-04"]}
                                                         for g, r in rates.items()})
    assert {trace.type for trace in many.data} == {"scatter"} and many.layout.legend.orientation == "h"


def test_heat_map_colours_diverge_from_the_community_median_named_in_the_caption() -> None:
    """The scale is centred on the median of the cells (not on their minimum), symmetric about it, and the
    colour bar and the caption say so."""
    import plotly.graph_objects as go

    from gridpoints.whatif._report import _heat_figure, _Page

    heat = {f"g{i}": {"2026-04": {"reward": value}} for i, value in enumerate((150.0, 167.0, 170.0, 184.0, 220.0))}
    trace = _heat_figure(_Page("zh", None), go, heat).data[0]  # all categories: the one shown first
    assert trace.zmid == 170.0 and trace.zmin == 120.0 and trace.zmax == 220.0
    assert "中位数 170" in trace.colorbar.title.text
    assert "中位数" in _visible(render_report(make_summary()))
    assert "median" in _visible(render_report(make_summary(), lang="en"))


# -- in a real browser ---------------------------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=5000", "--window-size=1200,2600", "--hide-scrollbars")


def find_chromium() -> str:
    found = os.environ.get("GRIDPOINTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "headless Chromium is needed: apt-get install -y chromium fonts-noto-cjk"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_chromium(html: Path, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"
    return subprocess.run([find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, html.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


class ChartMarks(HTMLParser):
    """For each chart div (by id): the class names and drawn marks found inside it, in a dumped DOM."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                      "track", "wbr"})

    def __init__(self, charts: tuple[str, ...]) -> None:
        super().__init__()
        self.charts = charts
        self.stack: list[tuple[str, str | None, frozenset[str]]] = []
        self.classes: dict[str, Counter[str]] = {c: Counter() for c in charts}
        self.marks: dict[str, Counter[str]] = {c: Counter() for c in charts}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        chart = self.stack[-1][1] if self.stack else None
        if chart is None and tag == "div" and found.get("id") in self.charts:
            chart = found["id"]
        classes = frozenset((found.get("class") or "").split())
        if chart is not None:
            self.classes[chart].update(classes)
            inherited = set().union(*(c for _, _, c in self.stack))
            if tag == "path" and len(found.get("d") or "") > 10 and "trace" in inherited:
                self.marks[chart]["path"] += 1
            href = found.get("href") or found.get("xlink:href") or ""
            if tag == "image" and href.startswith("data:image/") and "hm" in inherited:
                self.marks[chart]["heatmap-image"] += 1
        if tag not in self.VOID:
            self.stack.append((tag, chart, classes))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def chart_marks(dom: str, charts: tuple[str, ...]) -> ChartMarks:
    parser = ChartMarks(charts)
    parser.feed(dom)
    return parser


def undrawn(marks: ChartMarks, expected: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Charts lacking plotly's SVG, a drawn mark (a trace's path, a heat map's image) or an expected class."""
    missing = []
    for chart, names in expected.items():
        classes, drawn = marks.classes[chart], marks.marks[chart]
        for name in ("main-svg", *names):
            if not classes[name]:
                missing.append(f"{chart}: no .{name}")
        if not (drawn["path"] or drawn["heatmap-image"]):
            missing.append(f"{chart}: nothing drawn")
    return missing


REPORT_EXPECTED = {
    "chart-lorenz": ("trace", "scatter", "js-line"),
    "chart-heat": ("heatmaplayer", "hm", "heatmap-label", "updatemenu-container"),
    "chart-categories": ("trace", "bars", "point"),
    "chart-participation": ("trace", "scatter", "js-line", "legend"),
}
COMPARE_EXPECTED = {"chart-lorenz": ("trace", "scatter", "js-line"), "chart-delta": ("trace", "bars", "point"),
                    "chart-categories": ("trace", "bars", "point")}


@pytest.fixture(scope="module")
def browser_work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A module-wide folder holding the rendered pages and Chromium profiles."""
    find_chromium()
    yield tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def report_page(browser_work: Path) -> Path:
    """The sample report, written once for the browser tests."""
    return write_report(browser_work / "report.html", make_summary())


def test_every_report_chart_draws_in_chromium(report_page: Path, browser_work: Path) -> None:
    """After scripts run, each report chart holds SVG with drawn traces: lines, heatmap cells, bars."""
    dom = run_chromium(report_page, browser_work, "--dump-dom").stdout
    marks = chart_marks(dom, REPORT_CHARTS)
    assert undrawn(marks, REPORT_EXPECTED) == []
    assert marks.classes["chart-participation"]["js-line"] >= len(GRIDS)
    assert marks.marks["chart-heat"]["heatmap-image"] >= 1


def test_every_compare_chart_draws_in_chromium(browser_work: Path) -> None:
    """After scripts run, each compare chart holds SVG with drawn traces, both Lorenz curves included."""
    page = write_compare_report(browser_work / "compare.html", make_comparison())
    dom = run_chromium(page, browser_work, "--dump-dom").stdout
    marks = chart_marks(dom, COMPARE_CHARTS)
    assert undrawn(marks, COMPARE_EXPECTED) == []
    assert marks.classes["chart-lorenz"]["js-line"] >= 3


def test_dom_check_notices_charts_that_did_not_draw(report_page: Path, browser_work: Path) -> None:
    """With plotly.js removed from the page the same check reports every chart as undrawn."""
    text = report_page.read_text(encoding="utf-8")
    start = text.index("<script>") + len("<script>")
    broken = browser_work / "broken.html"
    broken.write_text(text[:start] + text[text.index("</script>", start):], encoding="utf-8")
    dom = run_chromium(broken, browser_work, "--dump-dom").stdout
    missing = undrawn(chart_marks(dom, REPORT_CHARTS), REPORT_EXPECTED)
    assert {m.split(":")[0] for m in missing} == set(REPORT_CHARTS)


def decode_png(blob: bytes) -> tuple[int, int, list[bytearray]]:
    """Width, height and unfiltered RGB(A) rows of an 8-bit truecolour PNG, with zlib and struct only."""
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", blob[16:26])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    idat = bytearray()
    pos = 8
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        if blob[pos + 4:pos + 8] == b"IDAT":
            idat += blob[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, [row if bpp == 3 else bytearray(v for i, v in enumerate(row) if i % 4 != 3)
                           for row in rows]


def test_screenshot_shows_coloured_charts(report_page: Path, browser_work: Path) -> None:
    """A screenshot below the page header holds many coloured pixels (heat cells, bars, lines), not a blank page."""
    shot = browser_work / "report.png"
    run_chromium(report_page, browser_work, f"--screenshot={shot}")
    width, height, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1200, 2600)
    coloured = non_white = 0
    # Every other pixel of every other row is plenty to tell charts from a blank page, at a quarter of the cost.
    for row in rows[150::2]:
        for x in range(0, len(row), 6):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if max(r, g, b) - min(r, g, b) > 60:
                coloured += 1
            if min(r, g, b) < 235:
                non_white += 1
    area = (width // 2) * ((height - 150) // 2)
    assert coloured > 0.05 * area, coloured
    assert non_white > 0.08 * area, non_white


#: A summary key left untranslated shows as snake_case (out_of_order, balance_median, insufficient_balance …).
SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


@pytest.fixture(scope="module")
def simulated() -> tuple[Any, Any, dict[str, str]]:
    """A real summary and comparison: a small Tianhe community (repairs, an allocated item, refusals) over one
    month, replayed under its ruleset and under the fair-play ruleset; after April's close an award and a
    deduction of April are corrected and an April event arrives late."""
    from datetime import date

    import gridpoints
    from gridpoints.whatif import PRESETS, Community, compare, memberships, simulate

    habits = PRESETS["tianhe"]
    root = Path(__file__).resolve().parents[1] / "rulesets"
    policy = gridpoints.load_ruleset(root / f"{habits.ruleset}.yaml")
    community = Community(240, 32, seed=2, name="tianhe", mix=habits.mix, elderly=habits.elderly, preset=habits)
    events: list[dict[str, Any]] = list(community.events(policy, date(2026, 4, 1), 1))
    award = next(e for e in events if e.get("type") == "safety_publicity")
    settled = {value for e in events for value in (e.get("attributes") or {}).values()}
    deduction = next(e for e in events if e.get("type") == "parking_violation" and e["id"] not in settled)
    events += [{"correct": {"event": target["id"], "reason": reason, "actor": "staff-1",
                            "at": f"2026-05-02T09:0{i}:00+08:00"}}
               for i, (target, reason) in enumerate(((award, "重复上报"), (deduction, "认错人")))]
    events.append({**award, "id": "tianhe-late-1", "occurred_at": "2026-04-30T20:00:00+08:00"})
    roster = memberships([*community.roster(), {"subject": "staff-1", "grid": "g01", "household": "staff",
                                                "roles": ["staff"], "since": "2020-01-01T00:00:00+08:00"}])
    # The corrections reach back into the closed April, whose entries a live replay no longer keeps.
    summary = simulate(policy, events, roster=roster, keep_ledger=True)
    comparison = compare(policy, policy, events, roster=roster, keep_ledger=True)
    return summary, comparison, dict(policy.spec.categories)


def test_the_chinese_report_shows_no_untranslated_key(simulated: tuple[Any, Any, dict[str, str]],
                                                        browser_work: Path) -> None:
    """Every visible label of the rendered zh page, charts included (Chromium's DOM after plotly drew), is
    translated: no snake_case key anywhere in what a reader sees."""
    summary, comparison, names = simulated
    # The sample has what needs labels: refusals, repairs, corrections of a closed period, a late event.
    assert summary.redemptions["refused"] and summary.repairs["opened"]
    assert summary.corrections["after_close"] == 2 and summary.late["events"] == 1
    for name, page in (("zh-report.html", write_report(browser_work / "zh-report.html", summary,
                                                        category_names=names)),
                       ("zh-compare.html", write_compare_report(browser_work / "zh-compare.html", comparison,
                                                                category_names=names))):
        dom = run_chromium(page, browser_work, "--dump-dom").stdout
        assert "main-svg" in dom, name
        assert SNAKE_CASE.findall(_visible(dom)) == [], name


def test_a_legend_of_32_grids_fits_inside_the_chart(simulated: tuple[Any, Any, dict[str, str]],
                                                     browser_work: Path) -> None:
    """Over several months, each of 32 grids' legend entries is drawn inside the participation chart."""
    summary = simulated[0].to_dict()
    summary["participation"] = {grid: {"2026-03": rate * 0.9, **rates}
                                for grid, rates in summary["participation"].items() for rate in rates.values()}
    assert len(summary["participation"]) == 32
    page = write_report(browser_work / "legend.html", summary)
    dom = run_chromium(page, browser_work, "--dump-dom").stdout
    chart = dom[dom.index('id="chart-participation"'):]
    height = float(re.search(r'<svg class="main-svg"[^>]*height="([\d.]+)"', chart).group(1))  # type: ignore[union-attr]
    legend = re.search(r'<g class="legend"[^>]*transform="translate\(([\d.]+),\s*([\d.]+)\)"', chart)
    assert legend is not None
    items = re.findall(r'<g class="traces" transform="translate\(([\d.]+),\s*([\d.]+)\)"', chart)
    assert len(items) == 32
    assert all(float(legend.group(2)) + float(y) < height for _, y in items)
