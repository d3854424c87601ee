"""Rendering a decision's trace as text in Chinese or English, from message codes."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from gridpoints.model import Decision, LimitStep, RuleTrace

_TEXT: dict[str, dict[str, str]] = {
    "header": {
        "en": "Event {event_id} ({event_type}) for {subject} at {occurred_local}, ruleset {ruleset}:",
        "zh": "事件 {event_id}（{event_type}），对象 {subject}，时间 {occurred_local}，规则集 {ruleset}：",
    },
    "duplicate": {
        "en": "(resubmitted: this is the original decision; nothing new was written)",
        "zh": "（重复提交：返回原决定，未写入新记录）",
    },
    "no_rule": {"en": "No rule matched; no points.", "zh": "没有匹配的规则，不计分。"},
    "rule": {"en": "- rule {rule_id} ({rule_name}, {category}): {base}",
             "zh": "- 规则 {rule_id}（{rule_name}，{category}）：{base}"},
    "granted": {"en": "  = {granted:+d} points", "zh": "  = {granted:+d} 分"},
    "pending": {"en": "  = {base:+d} points held until verified", "zh": "  = {base:+d} 分待核实"},
    "settle.verified": {"en": "verifies event {event}: {base:+d} held", "zh": "核实事件 {event}：待核实 {base:+d} 分"},
    "settle.rejected": {"en": "rejects event {event}: {base} held points returned",
                        "zh": "驳回事件 {event}：退回待核实的 {base} 分"},
    "settle.expired": {"en": "event {event} was not verified in time: {base} held points returned",
                       "zh": "事件 {event} 未按期核实：退回待核实的 {base} 分"},
    "settle.upheld": {"en": "appeal upheld for event {event}: deduction of {base} reversed",
                      "zh": "申诉成立（事件 {event}）：撤销扣分 {base} 分"},
    "settle.dismissed": {"en": "appeal dismissed for event {event}: the deduction stands",
                         "zh": "申诉驳回（事件 {event}）：扣分维持"},
    "net": {"en": "Net change: {points:+d} points", "zh": "净变化：{points:+d} 分"},
    "base.fixed": {"en": "fixed {points:+d}", "zh": "固定 {points:+d} 分"},
    "base.per": {"en": "{counted:g} {field} × {each} = {base:+d}", "zh": "{counted:g} {field} × {each} = {base:+d} 分"},
    "base.per.capped": {"en": " ({units:g} reported; at most {max_units:g} count)",
                        "zh": "（上报 {units:g}，最多计 {max_units:g}）"},
    "base.rounded": {"en": " (rounded toward zero)", "zh": "（向零取整）"},
    "base.table": {"en": "{field} = {value} → {base:+d}", "zh": "{field} = {value} → {base:+d} 分"},
    "base.table_default": {"en": "{field} = {value}, not in the table → default {base:+d}",
                           "zh": "{field} = {value}，不在表中 → 默认 {base:+d} 分"},
    "base.range": {"en": "{field} = {value} within {low}..{high} → {base:+d}",
                   "zh": "{field} = {value}，范围 {low}–{high} → {base:+d} 分"},
    "base.range.clamped": {"en": " (clamped)", "zh": "（已限定在范围内）"},
    "step.cap": {
        "en": "  · {kind} {limit_id} ({scope} {scope_id}, {window}): {before} of {limit} used, "
              "{requested} requested → {granted}{outcome}",
        "zh": "  · {kind} {limit_id}（{scope} {scope_id}，{window}）：已用 {before}/{limit}，"
              "申请 {requested} → 给予 {granted}{outcome}",
    },
    "step.diminishing": {
        "en": "  · diminishing {limit_id} ({scope} {scope_id}, {window}): occurrence {occurrence} × {param}: "
              "{requested} → {granted}",
        "zh": "  · 递减 {limit_id}（{scope} {scope_id}，{window}）：第 {occurrence} 次 × {param}："
              "{requested} → {granted}",
    },
    "step.share": {
        "en": "  · share {limit_id} ({scope} {scope_id}, {window}): holds {before} of a pool of {pool}; at most "
              "{percent} once the pool reaches {limit}: {requested} requested → {granted}{outcome}",
        "zh": "  · 份额 {limit_id}（{scope} {scope_id}，{window}）：已得 {before}，池内共 {pool}；"
              "池内达到 {limit} 后最多占 {percent}：申请 {requested} → 给予 {granted}{outcome}",
    },
    "step.floor": {
        "en": "  · floor: balance {before}, floor {limit}: {requested} → {granted}{outcome}",
        "zh": "  · 余额下限：余额 {before}，下限 {limit}：{requested} → {granted}{outcome}",
    },
    "within": {"en": "", "zh": ""},
    "truncated": {"en": " (truncated to fit)", "zh": "（截断至上限）"},
    "rejected": {"en": " (rejected: does not fit)", "zh": "（超出上限，整笔不予计分）"},
    "kind.cap": {"en": "cap", "zh": "上限"},
    "kind.budget": {"en": "budget", "zh": "预算"},
}

_SCOPES = {"zh": {"subject": "个人", "household": "家庭", "grid": "网格", "community": "社区"}}


def _t(code: str, lang: str, **args: Any) -> str:
    return _TEXT[code][lang].format(**args)


def _base(rule: RuleTrace, lang: str) -> str:
    args = dict(rule.base_args)
    text = _t(rule.base_code, lang, base=rule.base, **args)
    if args.get("capped"):
        text += _t("base.per.capped", lang, **args)
    if args.get("clamped"):
        text += _t("base.range.clamped", lang)
    if args.get("rounded"):
        text += _t("base.rounded", lang)
    return text


def _step(step: LimitStep, lang: str) -> str:
    scope = _SCOPES.get(lang, {}).get(step.scope, step.scope)
    outcome_code = step.code.rsplit(".", 1)[-1]
    outcome = _t(outcome_code, lang) if outcome_code in _TEXT else ""
    template = f"step.{step.kind}" if f"step.{step.kind}" in _TEXT else "step.cap"
    kind = _t(f"kind.{step.kind}", lang) if f"kind.{step.kind}" in _TEXT else step.kind
    percent = f"{float(Fraction(step.param) * 100):.4g}%" if step.kind == "share" and step.param else ""
    return _t(template, lang, kind=kind, limit_id=step.limit_id, scope=scope, scope_id=step.scope_id,
              window=step.window, before=step.before, limit=step.limit, requested=step.requested,
              granted=step.granted, outcome=outcome, occurrence=step.before + 1, param=step.param,
              pool=step.pool, percent=percent)


def render(decision: Decision, lang: str) -> str:
    """The decision as lines of text; ``lang`` is ``zh`` or ``en``."""
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    trace = decision.trace
    lines = [_t("header", lang, event_id=trace.event_id, event_type=trace.event_type, subject=trace.subject,
                occurred_local=trace.occurred_local, ruleset=trace.ruleset)]
    if decision.duplicate:
        lines.append(_t("duplicate", lang))
    if not trace.rules:
        lines.append(_t("no_rule", lang))
    for rule in trace.rules:
        lines.append(_t("rule", lang, rule_id=rule.rule_id, rule_name=rule.rule_name, category=rule.category,
                        base=_base(rule, lang)))
        lines.extend(_step(step, lang) for step in rule.steps)
        if rule.status == "pending":
            lines.append(_t("pending", lang, base=rule.base))
        else:
            lines.append(_t("granted", lang, granted=rule.granted))
    lines.append(_t("net", lang, points=decision.points))
    return "\n".join(lines)
