"""Self-contained HTML reports of a period's points: one file that opens anywhere, with no network.

:func:`write_report` turns a run summary (what ``gridpoints.whatif._simulate`` produces) into a page with a Lorenz
curve, a grid × month heat map of points per household, issued and deducted points by category and monthly
participation per grid, beside tables of totals, limits and the leaderboard. :func:`write_compare_report`
turns a comparison of two rulesets over the same events into a before/after page. Labels are Chinese by
default (``lang="zh"``) and English with ``lang="en"``.

The charts are drawn by plotly.js, inlined into the page (about 4.8 MB), so a report can be mailed to a
community office or archived with an audit and still open years later without a CDN. Needs the ``report``
extra: ``pip install 'gridpoints[report]'``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from gridpoints.errors import MissingExtra

Lang = Literal["zh", "en"]

#: The ids of the chart ``<div>`` elements in a report, in page order (tests and hosts may look them up).
REPORT_CHARTS = ("chart-lorenz", "chart-heat", "chart-categories", "chart-participation")
#: The ids of the chart ``<div>`` elements in a compare report, in page order.
COMPARE_CHARTS = ("chart-lorenz", "chart-delta", "chart-categories")

_FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "Helvetica Neue", sans-serif'

_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "report": "积分运行报告", "compare": "积分细则对比报告", "ruleset": "积分细则", "period": "统计期间",
        "totals": "总体数据", "limits": "限额执行情况", "limit": "限额", "applied": "检查次数",
        "awards_cut": "被削减的奖励(次)", "points_cut": "削减积分",
        "limits_note": "检查次数：限额参与计算的次数；被削减的奖励：因限额被截减或拒发的奖励次数；"
                       "削减积分：因此少发的积分。",
        "leaderboard": "积分排行榜", "rank": "名次", "subject": "居民", "grid": "网格", "earned": "获得积分",
        "repairs": "积分修复", "redemptions": "积分兑换", "liability": "未兑换积分(负债)", "honours": "荣誉",
        "lorenz": "积分分布洛伦兹曲线", "lorenz_x": "居民累计占比(按获得积分从低到高)", "lorenz_y": "积分累计占比",
        "equality": "完全平均", "actual": "实际分布",
        "lorenz_note": "曲线越贴近对角线，积分分配越平均；基尼系数越大，积分越集中在少数人手中(积分垄断)。",
        "heat": "网格积分热力图(每户积分)", "month": "月份", "per_household": "每户积分", "all": "合计",
        "heat_note": "每格为该网格当月每户平均获得的净积分(扣分为负)；用左上角菜单按类别查看。颜色以全社区中位数为中点"
                     "(色标标题注明中位数)：红色高于中位数，蓝色低于中位数，浅黄色接近中位数；空白表示该月该网格没有"
                     "登记住户。",
        "median": "中位数",
        "categories": "各类别积分发放与扣减", "category": "类别", "points": "积分", "issued": "发放",
        "deducted": "扣减",
        "categories_note": "每个类别发放(绿色)与扣减(红色)的积分总数。",
        "participation": "各网格月度参与率", "rate": "参与率",
        "participation_note": "参与率 = 当月有积分活动的居民 ÷ 网格登记居民；看各网格的走势和差距。",
        "participation_month_note": "参与率 = 当月有积分活动的居民 ÷ 网格登记居民；每根柱为一个网格，"
                                    "虚线为各网格平均。",
        "grid_mean": "网格平均",
        "gini": "基尼系数", "top10": "前10%居民占比", "top1": "前1%居民占比",
        "old": "原细则", "new": "新细则", "delta": "积分变化(新 − 旧)", "subjects": "居民人数",
        "delta_note": "每位居民在新细则下获得积分与原细则之差的分布；0 左侧为减少，右侧为增加。",
        "lorenz_compare_note": "两条曲线对比：新细则的曲线更贴近对角线，说明积分分配更平均。",
        "categories_compare_note": "左：各类别发放积分；右：各类别扣减积分；原细则与新细则并排。",
        "distribution": "分布变化", "gainers": "积分增加最多", "losers": "积分减少最多", "rank_stats": "排名变化",
        "top10_overlap": "前10名重合人数", "spearman": "斯皮尔曼等级相关", "no_data": "无数据",
        "generated": "由 gridpoints 生成；本文件自包含，离线可打开。", "key": "项目", "value": "数值",
        "top10_old": "原细则前10名", "top10_new": "新细则前10名", "undefined": "无法计算",
        "corrections": "冲正记录", "event": "事件", "window": "原周期", "corrected_in": "冲正周期",
        "points_reversed": "冲正积分", "reason": "原因", "actor": "经办人", "after_close": "冲正时原周期已结账",
        "yes": "是", "no": "否", "none": "无",
        "corrections_note": "冲正撤销一次记错的事件：其积分从原周期的获得积分、集中度和热力图中扣除，"
                            "冲正本身记在冲正当期。冲正积分为正表示收回的奖励，为负表示退还的扣分。"
                            "已结账周期的事件在之后的周期冲正时，该周期已公布的排名和挑战结果不变。",
        "corrections_summary": "共 {count} 笔冲正，冲正积分合计 {points}；"
                               "其中 {after_close} 笔冲正的是已结账周期的事件。",
        "late": "迟到事件", "late_window": "所在的已结账周期", "late_events": "事件数", "late_points": "积分",
        "late_note": "迟到事件：所在周期结账后才记录的事件，照常计分，按其落入的已结账周期统计；"
                     "它们可能改变已结账周期的数据，请核对。",
        "late_summary": "共 {events} 个迟到事件，涉及积分 {points}。",
    },
    "en": {
        "report": "Points report", "compare": "Ruleset comparison", "ruleset": "Ruleset", "period": "Period",
        "totals": "Totals", "limits": "Limits", "limit": "Limit", "applied": "Applied", "awards_cut": "Awards cut",
        "points_cut": "Points cut",
        "limits_note": "Applied: how often a limit took part in a decision; awards cut: awards it truncated or "
                       "refused; points cut: the points not issued because of it.",
        "leaderboard": "Leaderboard", "rank": "Rank", "subject": "Resident", "grid": "Grid", "earned": "Earned",
        "repairs": "Repairs", "redemptions": "Redemptions", "liability": "Outstanding points (liability)",
        "honours": "Honours",
        "lorenz": "Lorenz curve of points earned", "lorenz_x": "Cumulative share of residents (fewest points first)",
        "lorenz_y": "Cumulative share of points", "equality": "Perfect equality", "actual": "Actual",
        "lorenz_note": "The closer the curve to the diagonal, the more evenly points are spread; a higher Gini "
                       "means points concentrate in few hands (a points monopoly).",
        "heat": "Grid heat map (points per household)", "month": "Month", "per_household": "Points per household",
        "all": "All categories",
        "heat_note": "Each cell is a grid's net points per household in a month (deductions negative); pick a "
                     "category from the menu above the map. Colours diverge from the community median (named in "
                     "the colour bar's title): red above it, blue below, pale yellow near it; a blank cell means no "
                     "registered households.",
        "median": "median",
        "categories": "Points issued and deducted by category", "category": "Category", "points": "Points",
        "issued": "Issued", "deducted": "Deducted",
        "categories_note": "Total points issued (green) and deducted (red) in each category.",
        "participation": "Monthly participation by grid", "rate": "Participation",
        "participation_note": "Participation = residents with any points activity in the month ÷ residents "
                              "registered in the grid; compare trends and gaps between grids.",
        "participation_month_note": "Participation = residents with any points activity in the month ÷ "
                                    "residents registered in the grid; one bar per grid, the dashed line is the "
                                    "mean over grids.",
        "grid_mean": "Mean over grids",
        "gini": "Gini", "top10": "Top 10% share", "top1": "Top 1% share",
        "old": "Old ruleset", "new": "New ruleset", "delta": "Change in points (new − old)",
        "subjects": "Residents",
        "delta_note": "How each resident's points change under the new ruleset; left of 0 lose, right of 0 gain.",
        "lorenz_compare_note": "Both curves: the one closer to the diagonal spreads points more evenly.",
        "categories_compare_note": "Left: points issued by category; right: points deducted; old and new side "
                                   "by side.",
        "distribution": "Distribution changes", "gainers": "Largest gains", "losers": "Largest losses",
        "rank_stats": "Rank changes", "top10_overlap": "Top-10 overlap", "spearman": "Spearman rank correlation",
        "no_data": "No data", "generated": "Generated by gridpoints; this file is self-contained and opens offline.",
        "key": "Item", "value": "Value",
        "top10_old": "Old top 10", "top10_new": "New top 10", "undefined": "undefined",
        "corrections": "Corrections", "event": "Event", "window": "Event period", "corrected_in": "Corrected in",
        "points_reversed": "Points reversed", "reason": "Reason", "actor": "By", "after_close": "Period closed then",
        "yes": "yes", "no": "no", "none": "None",
        "corrections_note": "A correction reverses a mistaken event: its points leave the earned points, the "
                            "concentration and the heat map of the event's own period, and the correction itself is "
                            "recorded in the period it was made. Positive points reversed are an award taken back, "
                            "negative a deduction given back. When a closed period's event is corrected later, that "
                            "period's published rankings and challenge results stand.",
        "corrections_summary": "{count} corrections, {points} points reversed in all; {after_close} of them "
                               "corrected an event of a period already closed.",
        "late": "Late events", "late_window": "Closed period", "late_events": "Events", "late_points": "Points",
        "late_note": "Late events were recorded after their period had been closed. They are scored as usual and "
                     "counted here by the closed period they fell in; they may change that period's figures, so "
                     "check them.",
        "late_summary": "{events} late events, {points} points in all.",
    },
}

#: Display names of summary keys and common categories, for the tables' key column: ``section.key`` first
#: (the same key means different things in different sections), then ``key``; anything else shows as its key.
_NAMES: dict[str, dict[str, str]] = {
    "zh": {
        "issued": "发放", "deducted": "扣减", "net": "净额", "redeemed": "已兑换", "expired": "过期",
        "restored": "修复返还", "reversed": "申诉撤销", "subjects": "居民数", "events": "事件数",
        "households": "户数", "grids": "网格数", "entries": "账目条数", "pending": "待核验",
        "participants": "参与人数", "participation": "参与率", "base": "基础分", "reward": "奖励分",
        "deduction": "扣分", "bonus": "挑战奖励", "opened": "发起", "completed": "完成", "expired_repairs": "过期",
        "count": "次数", "points": "积分", "outstanding": "未兑换", "held": "冻结", "spendable": "可用",
        "gini": "基尼系数", "top10": "前10%占比", "top1": "前1%占比", "mean": "平均", "median": "中位数",
        "old": "原", "new": "新", "delta": "变化", "earned": "获得次数", "streaks_completed": "连续打卡完成",
        # totals
        "duplicates": "重复事件(已记录)", "out_of_order": "时间倒序事件", "residents": "居民数",
        "points_issued": "发放积分", "points_deducted": "扣减积分", "points_restored": "修复返还积分",
        "points_reversed": "申诉撤销积分", "points_expired": "过期积分", "points_net": "净积分",
        "pending_verified": "待核验后通过", "pending_rejected": "待核验后驳回", "pending_expired": "待核验超时",
        "participation_mean": "平均参与率", "periods_closed": "已结算周期",
        "corrections": "冲正笔数", "points_corrected": "冲正积分", "adjustments": "人工调整笔数",
        "points_adjusted": "人工调整积分", "late_events": "迟到事件数",
        # repairs
        "refused": "被拒绝",
        # redemptions
        "applied": "申请", "returned": "退回", "allocated": "分配", "requests": "兑换申请", "by_item": "按商品",
        "redemptions.count": "兑换次数", "redemptions.points": "兑换积分", "redemptions.held": "冻结中",
        "insufficient_balance": "积分不足", "limit_reached": "已达兑换上限", "out_of_stock": "库存不足",
        "not_eligible": "不符合兑换条件", "repair_required": "须先完成积分修复", "unavailable": "暂不可兑换",
        "already_settled": "已处理",
        "unknown_request": "无此申请", "unknown_item": "无此商品",
        # liability
        "liability.points": "未兑换积分", "holders": "持有人数", "negative_points": "负余额合计",
        "pending_points": "待核验积分", "held_points": "冻结积分", "balance_median": "余额中位数",
        "balance_p90": "余额90分位", "balance_max": "最高余额", "valued_at": "估值所用商品",
        "value_per_point": "每积分价值(元)", "value": "估值(元)", "value_low": "估值下限(元)",
        "value_high": "估值上限(元)",
        # compare: the distribution of per-resident changes
        "min": "最小", "p10": "10分位", "p90": "90分位", "max": "最大", "total": "合计", "gained": "增加人数",
        "lost": "减少人数", "unchanged": "不变人数",
    },
    "en": {
        "net": "Net", "redeemed": "Redeemed", "expired": "Expired", "restored": "Restored", "reversed": "Reversed",
        "subjects": "Residents", "events": "Events", "households": "Households", "grids": "Grids",
        "entries": "Ledger entries", "pending": "Pending", "participants": "Participants",
        "participation": "Participation", "base": "Base", "reward": "Reward", "deduction": "Deduction",
        "bonus": "Challenge bonus", "opened": "Opened", "completed": "Completed", "count": "Count",
        "points": "Points", "outstanding": "Outstanding", "held": "Held", "spendable": "Spendable",
        "gini": "Gini", "top10": "Top 10% share", "top1": "Top 1% share", "mean": "Mean", "median": "Median",
        "old": "Old", "new": "New", "delta": "Change",
        "duplicates": "Duplicates (already recorded)", "out_of_order": "Out of order", "residents": "Residents",
        "points_issued": "Points issued", "points_deducted": "Points deducted", "points_restored": "Points restored",
        "points_reversed": "Points reversed", "points_expired": "Points expired", "points_net": "Net points",
        "pending_verified": "Pending, verified", "pending_rejected": "Pending, rejected",
        "pending_expired": "Pending, expired", "participation_mean": "Mean participation",
        "periods_closed": "Periods closed",
        "corrections": "Corrections", "points_corrected": "Points reversed by corrections",
        "adjustments": "Staff adjustments", "points_adjusted": "Points adjusted", "late_events": "Late events",
        "refused": "Refused",
        "applied": "Applied for", "returned": "Returned", "allocated": "Allocated", "requests": "Requests",
        "by_item": "By item", "redemptions.count": "Redemptions", "redemptions.points": "Points redeemed",
        "redemptions.held": "Held",
        "insufficient_balance": "Insufficient balance", "limit_reached": "Limit reached",
        "out_of_stock": "Out of stock", "not_eligible": "Not eligible",
        "repair_required": "Repair first", "unavailable": "Unavailable",
        "already_settled": "Already settled", "unknown_request": "Unknown request", "unknown_item": "Unknown item",
        "liability.points": "Outstanding points", "holders": "Holders", "negative_points": "Negative balances",
        "pending_points": "Points pending", "held_points": "Points held", "balance_median": "Median balance",
        "balance_p90": "90th-percentile balance", "balance_max": "Largest balance", "valued_at": "Valued at item",
        "value_per_point": "Value per point (yuan)", "value": "Value (yuan)", "value_low": "Value, low (yuan)",
        "value_high": "Value, high (yuan)",
        "min": "Min", "p10": "10th percentile", "p90": "90th percentile", "max": "Max", "total": "Total",
        "gained": "Gained", "lost": "Lost", "unchanged": "Unchanged",
        "earned": "Earned (times)", "streaks_completed": "Streaks completed",
    },
}

_COLORS = {"issued": "#2e9e5b", "deducted": "#d9534f", "old": "#7f8c8d", "new": "#1f77b4"}

_CSS = "body { font-family: " + _FONT + """; margin: 0; background: #f6f7f9; color: #222; }
header { background: #b22222; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 6px; font-size: 24px; }
header p { margin: 0; opacity: .9; }
main { max-width: 1180px; margin: 0 auto; padding: 12px 24px 32px; }
section { background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12); margin: 16px 0;
          padding: 12px 20px; }
h2 { font-size: 18px; margin: 6px 0 4px; }
p.note { color: #555; font-size: 13px; margin: 2px 0 8px; }
.tables { display: flex; flex-wrap: wrap; gap: 16px; }
.tables > div { flex: 1 1 300px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #fafafa; }
footer { color: #888; font-size: 12px; text-align: center; padding: 12px; }
"""


def _plotly() -> tuple[Any, Any, str]:
    """plotly's graph objects, its subplot helper and the plotly.js bundle, or :class:`MissingExtra`."""
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
        from plotly.subplots import make_subplots
    except ImportError as exc:
        raise MissingExtra("report", "the HTML report") from exc
    return go, make_subplots, get_plotlyjs()


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, Mapping):
            return dict(result)
    raise TypeError(f"expected a mapping or an object with to_dict(), got {type(value).__name__}")


class _Page:
    """Collects sections and chart scripts, then renders one HTML document."""

    def __init__(self, lang: Lang, category_names: Mapping[str, str] | None) -> None:
        if lang not in _TEXT:
            raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
        self.lang = lang
        self.t = _TEXT[lang]
        self.names = {**_NAMES[lang], **(category_names or {})}
        self.body: list[str] = []
        self.scripts: list[str] = []

    def name(self, key: str, section: str | None = None) -> str:
        """The display name of ``key`` (of ``section``'s table, when given)."""
        if section is not None:
            found = self.names.get(f"{section}.{key}")
            if found is not None:
                return found
        return self.names.get(key, key)

    def section(self, title: str, note: str | None, inner: str) -> None:
        text = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.body.append(f"<section><h2>{html.escape(title)}</h2>{text}{inner}</section>")

    def chart(self, div_id: str, title: str, note: str, figure: Any) -> None:
        figure.update_layout(template="plotly_white", font={"family": _FONT, "size": 13},
                             margin={"l": 70, "r": 30, "t": 50, "b": 60})
        data = json.dumps(json.loads(figure.to_json()), ensure_ascii=False, separators=(",", ":"))
        # "<" only occurs inside JSON strings, where \u003c means the same; no "</script>" can close the tag.
        data = data.replace("<", "\\u003c")
        self.section(title, note, f'<div id="{div_id}" class="chart"></div>')
        self.scripts.append(
            f'(function(){{var f={data};Plotly.newPlot("{div_id}",f.data,f.layout,'
            '{"displaylogo":false,"responsive":true});})();'
        )

    def render(self, title: str, subtitle: str, plotly_js: str) -> str:
        html_lang = "zh-CN" if self.lang == "zh" else "en"
        return (
            f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script>{plotly_js}</script></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>"
            + "".join(self.body)
            + f'</main><footer>{html.escape(self.t["generated"])}</footer><script>'
            + "\n".join(self.scripts)
            + "</script></body></html>\n"
        )


def _fmt(value: Any) -> str:
    """A cell's text: thousands separators, never scientific notation; a fraction keeps three significant
    decimals (0.583, 0.0420), a larger number one decimal at most (2,899.7)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "、".join(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 10:
        return f"{value:,.1f}".removesuffix(".0")
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    text = f"{value:.{max(3, 2 - math.floor(math.log10(abs(value))) + 1)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{name} · ")
        else:
            yield name, value


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{html.escape(_fmt(c))}</td>' if isinstance(c, int | float) and not isinstance(c, bool)
            else f"<td>{html.escape(_fmt(c))}</td>" for c in row
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _key_values(page: _Page, data: Mapping[str, Any], section: str | None = None) -> str:
    rows = [(" · ".join(page.name(part, section) for part in key.split(" · ")),
             page.t["undefined"] if value is None else value) for key, value in _flatten(data)]
    return _table((page.t["key"], page.t["value"]), rows) if rows else f"<p>{html.escape(page.t['no_data'])}</p>"


def _records(page: _Page, records: Sequence[Any]) -> str:
    rows = [r for r in records if isinstance(r, Mapping)]
    if not rows:
        return f"<p>{html.escape(page.t['no_data'])}</p>"
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    return _table([page.t.get(c, page.name(c)) for c in columns], [[row.get(c, "") for c in columns] for row in rows])


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _no_data(page: _Page, figure: Any) -> None:
    figure.add_annotation(text=page.t["no_data"], showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                          font={"size": 18, "color": "#999"})


def _lorenz_points(summary: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    points = summary.get("concentration", {}).get("lorenz") or []
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return xs, ys


def _lorenz_figure(page: _Page, go: Any, curves: Sequence[tuple[str, Mapping[str, Any], str, str]]) -> Any:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=page.t["equality"],
                                line={"color": "#aaa", "dash": "dot"}))
    drawn = False
    for label, summary, color, dash in curves:
        xs, ys = _lorenz_points(summary)
        if not xs:
            continue
        drawn = True
        conc = summary.get("concentration", {})
        stats = ", ".join(f"{page.t[k]} {float(conc[k]):{'.3f' if k == 'gini' else '.1%'}}"
                          for k in ("gini", "top10", "top1") if k in conc)
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{label} ({stats})" if stats else label,
                                    line={"color": color, "dash": dash, "width": 3}, fill="tonexty"
                                    if len(curves) == 1 else None, fillcolor="rgba(31,119,180,0.12)"))
    if not drawn:
        _no_data(page, figure)
    figure.update_layout(height=460, xaxis={"title": {"text": page.t["lorenz_x"]}, "tickformat": ".0%",
                                            "range": [0, 1]},
                         yaxis={"title": {"text": page.t["lorenz_y"]}, "tickformat": ".0%", "range": [0, 1]},
                         legend={"x": 0.02, "y": 0.98, "bgcolor": "rgba(255,255,255,0.8)"})
    return figure


def _colorscale(values: list[float]) -> tuple[dict[str, Any], float | None]:
    """A colour scale diverging from the median of ``values`` (blue below, red above, pale yellow at it), its
    range symmetric about the median so equal distances look equally strong; and the median."""
    if not values:
        return {"colorscale": "RdYlBu", "reversescale": True}, None
    middle = _median(values)
    spread = max(abs(v - middle) for v in values) or max(abs(middle) * 0.1, 1.0)
    return {"colorscale": "RdYlBu", "reversescale": True, "zmid": middle, "zmin": middle - spread,
            "zmax": middle + spread}, middle


def _heat_figure(page: _Page, go: Any, heat: Mapping[str, Mapping[str, Mapping[str, float]]]) -> Any:
    grids = sorted(heat)
    months = sorted({m for by_month in heat.values() for m in by_month})
    categories = sorted({c for by_month in heat.values() for cell in by_month.values() for c in cell})
    figure = go.Figure()
    keys: list[str | None] = [None, *categories]
    for index, category in enumerate(keys):
        z: list[list[float | None]] = []
        for grid in grids:
            row: list[float | None] = []
            for month in months:
                cell = heat[grid].get(month)
                if cell is None:
                    row.append(None)
                else:
                    row.append(round(sum(cell.values()) if category is None else cell.get(category, 0.0), 2))
            z.append(row)
        present = [v for row in z for v in row if v is not None]
        scale, middle = _colorscale(present)
        bar_title = page.t["per_household"] if middle is None else (
            f"{page.t['per_household']}<br>{page.t['median']} {_number(round(middle, 1))}")
        figure.add_trace(go.Heatmap(
            z=z, x=months, y=grids, name=page.t["all"] if category is None else page.name(category),
            visible=index == 0, texttemplate="%{z:,.1f}", hoverongaps=False, xgap=2, ygap=2,
            colorbar={"title": {"text": bar_title}, "tickformat": ",~f"}, **scale,
            hovertemplate=f"{page.t['grid']} %{{y}}<br>{page.t['month']} %{{x}}<br>{page.t['per_household']} "
                          "%{z:,.2f}<extra></extra>",
        ))
    if not grids:
        _no_data(page, figure)
    buttons = [{"label": page.t["all"] if c is None else page.name(c), "method": "update",
                "args": [{"visible": [i == j for j in range(len(keys))]}]} for i, c in enumerate(keys)]
    figure.update_layout(
        height=max(320, 140 + 34 * len(grids)),
        xaxis={"title": {"text": page.t["month"]}, "type": "category"},
        yaxis={"title": {"text": page.t["grid"]}, "type": "category", "autorange": "reversed"},
        updatemenus=[{"buttons": buttons, "x": 0.0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}]
        if len(keys) > 1 else [],
    )
    return figure


def _category_rows(summary: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    rows: dict[str, tuple[float, float]] = {}
    for category, values in sorted(summary.get("by_category", {}).items()):
        rows[category] = (float(values.get("issued", 0)), abs(float(values.get("deducted", 0))))
    return rows


def _categories_figure(page: _Page, go: Any, summary: Mapping[str, Any]) -> Any:
    rows = _category_rows(summary)
    names = [page.name(c) for c in rows]
    figure = go.Figure()
    for position, kind in enumerate(("issued", "deducted")):
        values = [v[position] for v in rows.values()]
        figure.add_trace(go.Bar(x=names, y=values, name=page.t[kind], marker={"color": _COLORS[kind]},
                                text=[f"{v:,.0f}" for v in values], textposition="outside"))
    if not rows:
        _no_data(page, figure)
    figure.update_layout(height=420, barmode="group", xaxis={"title": {"text": page.t["category"]}},
                         yaxis={"title": {"text": page.t["points"]}, "tickformat": ",~f"})
    return figure


#: Legend entries per row below a participation chart with many grids.
LEGEND_COLUMNS = 6


def participation_months(participation: Mapping[str, Mapping[str, float]]) -> list[str]:
    return sorted({m for by_month in participation.values() for m in by_month})


def _participation_figure(page: _Page, go: Any, participation: Mapping[str, Mapping[str, float]]) -> Any:
    """One month: a bar per grid (x the grids) and the mean over grids as a dashed line. More months: a
    line per grid, with the legend below the chart in rows (it grows with the grids, so 30 and more fit)."""
    figure = go.Figure()
    grids = sorted(participation)
    months = participation_months(participation)
    if len(months) == 1:
        month = months[0]
        shown = [g for g in grids if month in participation[g]]
        rates = [float(participation[g][month]) for g in shown]
        figure.add_trace(go.Bar(x=shown, y=rates, name=month, marker={"color": _COLORS["new"]},
                                text=[f"{r:.0%}" for r in rates], textposition="outside",
                                hovertemplate=f"{page.t['grid']} %{{x}}<br>{page.t['rate']} %{{y:.1%}}<extra></extra>"))
        if rates:
            figure.add_hline(y=sum(rates) / len(rates), line={"color": "#444", "dash": "dash"},
                             annotation_text=f"{page.t['grid_mean']} {sum(rates) / len(rates):.1%}",
                             annotation_position="top left")
        figure.update_layout(height=420, showlegend=False,
                             xaxis={"title": {"text": f"{page.t['grid']} ({month})"}, "type": "category"},
                             yaxis={"title": {"text": page.t["rate"]}, "tickformat": ".0%", "range": [0, 1.1]})
        return figure
    for grid in grids:
        present = sorted(participation[grid])
        figure.add_trace(go.Scatter(x=present, y=[float(participation[grid][m]) for m in present],
                                    mode="lines+markers", name=f"{page.t['grid']} {grid}"))
    if not participation:
        _no_data(page, figure)
    rows = -(-len(grids) // LEGEND_COLUMNS)
    figure.update_layout(height=420 + 24 * rows, xaxis={"title": {"text": page.t["month"]}, "type": "category"},
                         yaxis={"title": {"text": page.t["rate"]}, "tickformat": ".0%", "range": [0, 1.05]},
                         legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.18, "yanchor": "top",
                                 "entrywidth": 1 / LEGEND_COLUMNS, "entrywidthmode": "fraction"},
                         margin={"b": 80 + 24 * rows})
    return figure


def _period(page: _Page, summary: Mapping[str, Any]) -> str:
    period = summary.get("period", {})
    return f"{page.t['period']}: {period.get('start', '?')} – {period.get('end', '?')}"


def render_report(summary: Any, *, lang: Lang = "zh", title: str | None = None,
                  category_names: Mapping[str, str] | None = None) -> str:
    """The HTML text of :func:`write_report`, for a host that serves it rather than saving a file."""
    go, _, plotly_js = _plotly()
    data = _as_dict(summary)
    page = _Page(lang, category_names)
    page.chart("chart-lorenz", page.t["lorenz"], page.t["lorenz_note"],
               _lorenz_figure(page, go, [(page.t["actual"], data, _COLORS["new"], "solid")]))
    page.chart("chart-heat", page.t["heat"], page.t["heat_note"], _heat_figure(page, go, data.get("heat", {})))
    page.chart("chart-categories", page.t["categories"], page.t["categories_note"],
               _categories_figure(page, go, data))
    participation = data.get("participation", {})
    page.chart("chart-participation", page.t["participation"],
               page.t["participation_month_note" if len(participation_months(participation)) == 1
                      else "participation_note"], _participation_figure(page, go, participation))
    limits = [(limit, v.get("applied", 0), v.get("bit", 0), v.get("points_cut", 0))
              for limit, v in sorted(data.get("limits", {}).items())]
    board = [(i + 1, r.get("subject", ""), r.get("grid", ""), r.get("earned", 0))
             for i, r in enumerate(data.get("leaderboard", []))]
    page.section(page.t["totals"], None, '<div class="tables"><div>'
                 + _key_values(page, data.get("totals", {}), "totals") + "</div></div>")
    page.section(page.t["limits"], page.t["limits_note"],
                 _table((page.t["limit"], page.t["applied"], page.t["awards_cut"], page.t["points_cut"]), limits))
    page.section(page.t["leaderboard"], None,
                 _table((page.t["rank"], page.t["subject"], page.t["grid"], page.t["earned"]), board))
    _corrections(page, data.get("corrections", {}))
    _late(page, data.get("late", {}))
    page.section(f"{page.t['repairs']} · {page.t['redemptions']} · {page.t['liability']}", None,
                 '<div class="tables">' + "".join(f"<div><h3>{html.escape(page.t[k])}</h3>"
                                                  f"{_key_values(page, data.get(k, {}), k)}</div>"
                                                  for k in ("repairs", "redemptions", "liability", "honours"))
                 + "</div>")
    subtitle = f"{page.t['ruleset']}: {data.get('ruleset', '?')}   {_period(page, data)}"
    return page.render(title or page.t["report"], subtitle, plotly_js)


def _corrections(page: _Page, corrections: Mapping[str, Any]) -> None:
    """The corrections section: how many and a row per correction (event, subject as the ledger names them,
    the event's period, the correction's, points reversed, reason, actor, whether the period was closed)."""
    t = page.t
    rows = [(r.get("event", ""), r.get("subject", ""), r.get("window", ""), r.get("corrected_in", ""),
             r.get("points", 0), r.get("reason", ""), r.get("actor", ""), t["yes"] if r.get("after_close") else t["no"])
            for r in corrections.get("rows", ()) if isinstance(r, Mapping)]
    if not rows:
        page.section(t["corrections"], t["corrections_note"], f"<p>{html.escape(t['none'])}</p>")
        return
    summary = t["corrections_summary"].format(count=_fmt(len(rows)), points=_fmt(corrections.get("points", 0)),
                                              after_close=_fmt(corrections.get("after_close", 0)))
    page.section(t["corrections"], t["corrections_note"], f"<p>{html.escape(summary)}</p>" + _table(
        (t["event"], t["subject"], t["window"], t["corrected_in"], t["points_reversed"], t["reason"], t["actor"],
         t["after_close"]), rows))


def _late(page: _Page, late: Mapping[str, Any]) -> None:
    """The late events section: per closed period they fell in, how many and their points."""
    t = page.t
    rows = [(window, counts.get("events", 0), counts.get("points", 0))
            for window, counts in sorted(late.get("by_window", {}).items()) if isinstance(counts, Mapping)]
    if not rows:
        page.section(t["late"], t["late_note"], f"<p>{html.escape(t['none'])}</p>")
        return
    summary = t["late_summary"].format(events=_fmt(late.get("events", 0)), points=_fmt(late.get("points", 0)))
    page.section(t["late"], t["late_note"], f"<p>{html.escape(summary)}</p>"
                 + _table((t["late_window"], t["late_events"], t["late_points"]), rows))


def write_report(path: str | Path, summary: Any, *, lang: Lang = "zh", title: str | None = None,
                 category_names: Mapping[str, str] | None = None) -> Path:
    """Write a self-contained HTML report of one run and return its path.

    ``summary`` is a mapping or has ``to_dict()`` returning one, with the keys ``simulate`` produces:
    ``ruleset``, ``period`` {start, end}, ``totals``, ``by_category`` {cat: {issued, deducted}}, ``limits``
    {id: {applied, bit}}, ``participation`` {grid: {month: 0..1}}, ``heat`` {grid: {month: {cat: per
    household}}}, ``concentration`` {gini, top10, top1, lorenz [[x, y], …]}, ``leaderboard`` [{subject,
    grid, earned}], ``repairs``, ``redemptions``, ``liability``, ``corrections`` {count, points, after_close,
    rows [{event, subject, window, corrected_in, points, reason, actor, after_close}]} and ``late`` {events,
    points, by_window {window: {events, points}}}, each drawn as a labelled table. A missing part draws an
    empty chart marked "no data" (or a table saying "none") rather than failing. ``category_names`` maps
    category ids to display names (a policy's ``spec.categories``). Raises
    :class:`~gridpoints.errors.MissingExtra` without plotly.
    """
    target = Path(path)
    target.write_text(render_report(summary, lang=lang, title=title, category_names=category_names),
                      encoding="utf-8")
    return target


def _delta_figure(page: _Page, go: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> Any:
    before, after = old.get("earned_by_subject", {}), new.get("earned_by_subject", {})
    subjects = sorted(set(before) | set(after))
    deltas = [int(after.get(s, 0)) - int(before.get(s, 0)) for s in subjects]
    figure = go.Figure()
    figure.add_trace(go.Histogram(x=deltas, name=page.t["delta"], marker={"color": _COLORS["new"]},
                                  hovertemplate=f"{page.t['delta']} %{{x}}<br>{page.t['subjects']} "
                                                "%{y}<extra></extra>"))
    if not deltas:
        _no_data(page, figure)
    figure.add_vline(x=0, line={"color": "#444", "dash": "dash"})
    figure.update_layout(height=400, bargap=0.05, showlegend=False, xaxis={"title": {"text": page.t["delta"]}},
                         yaxis={"title": {"text": page.t["subjects"]}})
    return figure


def _categories_compare_figure(page: _Page, go: Any, make_subplots: Any, old: Mapping[str, Any],
                               new: Mapping[str, Any]) -> Any:
    before, after = _category_rows(old), _category_rows(new)
    categories = sorted(set(before) | set(after))
    names = [page.name(c) for c in categories]
    figure = make_subplots(rows=1, cols=2, subplot_titles=(page.t["issued"], page.t["deducted"]))
    for side, rows in (("old", before), ("new", after)):
        for position in (0, 1):
            values = [rows.get(c, (0.0, 0.0))[position] for c in categories]
            figure.add_trace(go.Bar(x=names, y=values, name=page.t[side], marker={"color": _COLORS[side]},
                                    legendgroup=side, showlegend=position == 0,
                                    text=[f"{v:,.0f}" for v in values], textposition="outside"),
                             row=1, col=position + 1)
    if not categories:
        _no_data(page, figure)
    figure.update_layout(height=420, barmode="group")
    figure.update_yaxes(title_text=page.t["points"], row=1, col=1)
    return figure


def render_compare_report(comparison: Any, *, lang: Lang = "zh", title: str | None = None,
                          category_names: Mapping[str, str] | None = None) -> str:
    """The HTML text of :func:`write_compare_report`."""
    go, make_subplots, plotly_js = _plotly()
    data = _as_dict(comparison)
    old, new = _as_dict(data.get("old", {})), _as_dict(data.get("new", {}))
    page = _Page(lang, category_names)
    page.chart("chart-lorenz", page.t["lorenz"], page.t["lorenz_compare_note"], _lorenz_figure(
        page, go, [(f"{page.t['old']} {old.get('ruleset', '')}", old, _COLORS["old"], "dash"),
                   (f"{page.t['new']} {new.get('ruleset', '')}", new, _COLORS["new"], "solid")]))
    page.chart("chart-delta", page.t["delta"], page.t["delta_note"], _delta_figure(page, go, old, new))
    page.chart("chart-categories", page.t["categories"], page.t["categories_compare_note"],
               _categories_compare_figure(page, go, make_subplots, old, new))
    deltas = data.get("deltas", {})
    rank = data.get("rank", {})
    page.section(page.t["distribution"], None, '<div class="tables"><div>'
                 + _key_values(page, deltas.get("distribution", {})) + "</div><div>"
                 + _table((page.t["key"], page.t["value"]),
                          [(page.t.get(k, page.name(k)), page.t["undefined"] if v is None else v)
                           for k, v in rank.items()])
                 + "</div></div>")
    page.section(f"{page.t['gainers']} · {page.t['losers']}", None, '<div class="tables">' + "".join(
        f"<div><h3>{html.escape(page.t[k])}</h3>{_records(page, deltas.get(k, []))}</div>"
        for k in ("gainers", "losers")) + "</div>")
    subtitle = (f"{page.t['old']}: {old.get('ruleset', '?')}  →  {page.t['new']}: {new.get('ruleset', '?')}   "
                f"{_period(page, new)}")
    return page.render(title or page.t["compare"], subtitle, plotly_js)


def write_compare_report(path: str | Path, comparison: Any, *, lang: Lang = "zh", title: str | None = None,
                         category_names: Mapping[str, str] | None = None) -> Path:
    """Write a self-contained before/after HTML report of two rulesets over the same events.

    ``comparison`` is a mapping or has ``to_dict()``: ``old`` and ``new`` (summaries as for
    :func:`write_report`), ``deltas`` {distribution: {…}, gainers: [{…}], losers: [{…}]} and ``rank``
    {top10_overlap, spearman}. Draws both Lorenz curves, a histogram of each resident's change in points
    earned (from the two ``earned_by_subject`` maps; a resident absent from one counts 0 there) and issued
    and deducted points by category side by side. Raises :class:`~gridpoints.errors.MissingExtra` without
    plotly.
    """
    target = Path(path)
    target.write_text(render_compare_report(comparison, lang=lang, title=title, category_names=category_names),
                      encoding="utf-8")
    return target


__all__ = ["COMPARE_CHARTS", "REPORT_CHARTS", "render_compare_report", "render_report", "write_compare_report",
           "write_report"]
