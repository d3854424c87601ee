"""Rendering a decision's trace as text in Chinese or English, from message codes."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridpoints.model._values import Decision, LimitStep, RuleTrace

_TEXT: dict[str, dict[str, str]] = {
    "header": {
        "en": "Event {event_id} ({event_type}) for {subject} at {occurred_local}, ruleset {ruleset}:",
        "zh": "事件 {event_id}（{event_type}），对象 {subject}，时间 {occurred_local}，规则集 {ruleset}：",
    },
    "duplicate": {
        "en": "(resubmitted: this is the original decision; nothing new was written)",
        "zh": "（重复提交：返回原决定，未写入新记录）",
    },
    "scope.registry": {"en": "- scopes from the registry, not the event: {changes}",
                       "zh": "- 按登记信息而非事件所报确定范围：{changes}"},
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
    "settle.lodged": {"en": "appeal lodged against event {event}: staff will decide it",
                      "zh": "已就事件 {event} 提出申诉，等待工作人员裁定"},
    "settle.dismissed": {"en": "appeal dismissed for event {event}: the deduction stands",
                         "zh": "申诉驳回（事件 {event}）：扣分维持"},
    "settle.worker_credit": {"en": "grid worker performance for verifying event {event} in time: {base:+d}",
                             "zh": "网格员及时核实事件 {event}，绩效 {base:+d} 分"},
    "repair.task": {"en": "task for the repair of event {event}", "zh": "为事件 {event} 的积分修复完成任务"},
    "notice.remind": {"en": "reminder ({kind}) for event {event}", "zh": "提醒（{kind}）：事件 {event}"},
    "repair.task_verified": {"en": "task for the repair of event {event}, attested by {verifier}",
                             "zh": "为事件 {event} 的积分修复完成任务（{verifier} 核实）"},
    "repair.expired": {"en": "the repair of event {event} expired; the deduction stands",
                       "zh": "事件 {event} 的积分修复已过期，扣分维持"},
    "redeem.redeem": {"en": "redeems {item} for {cost} points", "zh": "兑换 {item}，{cost} 积分"},
    "redeem.entitle": {"en": "claims the entitlement {item} (no points spent)", "zh": "领取权益 {item}（不扣积分）"},
    "redeem.hold": {"en": "holds {cost} points for {item}", "zh": "为 {item} 冻结 {cost} 积分"},
    "redeem.apply": {"en": "applies for {item}, holding {cost} points until allocation",
                     "zh": "申请 {item}，冻结 {cost} 积分待分配"},
    "redeem.fulfil": {"en": "fulfils {item}: {cost} held points spent", "zh": "兑现 {item}：扣除冻结的 {cost} 积分"},
    "redeem.cancel": {"en": "cancels {item}: {cost} points returned", "zh": "取消 {item}：退回 {cost} 积分"},
    "redeem.expire": {"en": "the hold for {item} expired: {cost} points returned",
                      "zh": "{item} 冻结超时：退回 {cost} 积分"},
    "redeem.allocate": {"en": "allocated {item}: {cost} held points spent",
                        "zh": "分配到 {item}：扣除冻结的 {cost} 积分"},
    "redeem.release": {"en": "not allocated {item}: {cost} points returned",
                       "zh": "未分配到 {item}：退回 {cost} 积分"},
    "challenge.bonus": {"en": "challenge {challenge} {window}: rank {rank} with {earned} earned → {base:+d} {title}",
                        "zh": "积分挑战赛 {challenge}（{window}）：第 {rank} 名，"
                              "获得 {earned} 分 → {base:+d} 分 {title}"},
    "correct.reversed": {"en": "corrects event {event} ({reason}, by {actor}): its entries reversed, {base:+d}",
                         "zh": "冲正事件 {event}（{reason}，经办 {actor}）：原分录全部冲回，{base:+d} 分"},
    "correct.credit": {"en": "the performance credit of grid worker {worker} for verifying it: {points} points "
                                "taken back",
                       "zh": "网格员 {worker} 核实该事件所得绩效分 {points} 分一并冲回"},
    "correct.closed": {"en": "window {window} was already closed: its results and close report stand; the "
                                "correction is recorded in the current period",
                       "zh": "{window} 已结账：该期排名与结账结果不改写，冲正记入本期"},
    "correct.closed_won": {"en": "window {window} was already closed: its results and close report stand, the "
                                 "bonus and title of {challenges} won in it included; the correction is recorded "
                                 "in the current period",
                           "zh": "{window} 已结账：该期排名与结账结果不改写，已获得的 {challenges} 奖励和称号保留；"
                                 "冲正记入本期"},
    "correct.streak": {"en": "streak {name}: the period this event counted", "zh": "连续打卡 {name}：该事件计入的周期"},
    "correct.honour": {"en": "honour {name}: progress of {progress:g} taken back",
                       "zh": "荣誉 {name}：进度回退 {progress:g}"},
    "correct.honour_kept": {"en": "honour {name}: already earned with this event; it stays (progress of "
                                  "{progress:g} taken back)",
                            "zh": "荣誉 {name}：已因该事件获得，予以保留（进度回退 {progress:g}）"},
    "status.credit-reversed": {"en": "  = credit reversed", "zh": "  = 绩效分已冲回"},
    "status.closed": {"en": "  = closed period not rewritten", "zh": "  = 已结账期不改写"},
    "status.rolled-back": {"en": "  = run rolled back", "zh": "  = 连续记录已回退"},
    "status.kept": {"en": "  = run kept: later periods counted since (or the run had restarted); any bonus "
                            "paid with this event is reversed above",
                    "zh": "  = 连续记录保留：此后已有计入（或当时为重新开始）；随该事件发放的奖励已在上方冲回"},
    "status.progress-back": {"en": "  = progress taken back", "zh": "  = 进度已回退"},
    "status.honour-kept": {"en": "  = honour kept", "zh": "  = 荣誉保留"},
    "adjust.credit": {"en": "staff adjustment by {actor} ({reason}): {points} points credited",
                      "zh": "人工调整（{reason}，经办 {actor}）：增加 {points} 分"},
    "adjust.debit": {"en": "staff adjustment by {actor} ({reason}): {points} points debited",
                     "zh": "人工调整（{reason}，经办 {actor}）：扣减 {points} 分"},
    "streak.count": {"en": "streak {streak}: an event on {period} toward {length} {unit}s in a row",
                     "zh": "连续打卡 {streak}：{period} 计入，需连续 {length} {unit_zh}"},
    "step.streak": {"en": "  · streak {limit_id}: {streak_text}", "zh": "  · 连续打卡 {limit_id}：{streak_text}"},
    "streak.started": {"en": "run started (1 of {limit})", "zh": "开始连续（1/{limit}）"},
    "streak.broken": {"en": "the run of {before} was broken by a gap; a new run starts (1 of {limit})",
                      "zh": "中断（此前连续 {before}），重新开始（1/{limit}）"},
    "streak.extended": {"en": "{after} of {limit} in a row", "zh": "已连续 {after}/{limit}"},
    "streak.same": {"en": "already counted for this {window} ({before} of {limit} in a row)",
                    "zh": "本{window_zh}已计入（已连续 {before}/{limit}）"},
    "streak.late": {"en": "dated before the last counted {window}: not counted",
                    "zh": "早于上次计入的日期，不计入"},
    "streak.completed": {"en": "{after} in a row: streak completed, bonus {requested:+d}",
                         "zh": "已连续 {after}：完成连续打卡，奖励 {requested:+d} 分"},
    "honour.title": {"en": "title {name} ({honour})", "zh": "称号 {name}（{honour}）"},
    "honour.badge": {"en": "badge {name} ({honour})", "zh": "徽章 {name}（{honour}）"},
    "honour.milestone": {"en": "milestone {name} ({honour})", "zh": "里程碑 {name}（{honour}）"},
    "step.honour": {"en": "  · {mode}: {done} of {needed}", "zh": "  · {mode_zh}：{done}/{needed}"},
    "status.honoured": {"en": "  = honour earned", "zh": "  = 获得荣誉"},
    "status.progress": {"en": "  = progress noted", "zh": "  = 已计入进度"},
    "status.streak": {"en": "  = no bonus yet", "zh": "  = 暂无奖励"},
    "challenge.team": {"en": "team challenge {challenge} {window}: {team_kind} {team} ranked {rank} with {earned} "
                              "earned together; {split} split among {members} → {base:+d} {title}",
                       "zh": "团队挑战赛 {challenge}（{window}）：{team_kind_zh} {team} 合计 {earned} 分，"
                             "第 {rank} 名；{split_zh}分给 {members} 人 → {base:+d} 分 {title}"},
    "late.closed": {"en": "recorded after window {window} was closed: the closed period's results stand",
                    "zh": "在周期 {window} 结账后才记录：已结账周期的结果不变"},
    "period.closed": {"en": "window {window} closed", "zh": "周期 {window} 结账"},
    "expiry.points": {"en": "points earned before {cutoff} expire, oldest first",
                      "zh": "{cutoff} 之前获得的积分按先进先出过期"},
    "step.repair": {
        "en": "  · repair {limit_id}: {repair_text}",
        "zh": "  · 积分修复 {limit_id}：{repair_text}",
    },
    "repair.opened": {"en": "opened ({before} of {limit} this year); complete the task by {param}",
                      "zh": "已开启（本年第 {occurrence} 次）；请在 {param} 前完成任务"},
    "repair.max_per_year": {"en": "not opened: {before} of {limit} repairs this year already used",
                            "zh": "未开启：本年已用 {before}/{limit} 次"},
    "repair.cooldown": {"en": "not opened: the previous repair was too recent", "zh": "未开启：距上次修复时间过短"},
    "repair.progress": {"en": "{done} of {needed} done", "zh": "已完成 {done}/{needed}"},
    "repair.completed": {"en": "{done} of {needed} done: completed, points restored",
                         "zh": "已完成 {done}/{needed}：修复完成，积分恢复"},
    "step.stock": {"en": "  · stock of {limit_id}: {before} of {limit} handed out",
                   "zh": "  · {limit_id} 库存：已发 {before}/{limit}"},
    "step.item-limit": {"en": "  · {limit_id} per {scope_id} in {window}: {before} of {limit} used",
                        "zh": "  · {limit_id} 每人限额（{window}）：已用 {before}/{limit}"},
    "status": {"en": "  = {status}", "zh": "  = {status}"},
    "status.rejected": {"en": "  = rejected", "zh": "  = 已驳回"},
    "status.expired": {"en": "  = expired", "zh": "  = 已过期"},
    "status.dismissed": {"en": "  = dismissed", "zh": "  = 申诉驳回"},
    "status.unpaid": {"en": "  = not paid: the verified award granted no points",
                      "zh": "  = 未发放：核实的奖励未获积分"},
    "status.in_progress": {"en": "  = in progress", "zh": "  = 进行中"},
    "status.repaired": {"en": "  = repaired", "zh": "  = 已修复"},
    "status.redeemed": {"en": "  = redeemed", "zh": "  = 已兑换"},
    "status.allocated": {"en": "  = allocated", "zh": "  = 已分配"},
    "status.version_kept": {"en": "  = kept by its version", "zh": "  = 由原版本结清"},
    "status.carried": {"en": "  = carried into the new version", "zh": "  = 转入新版本"},
    "status.appeal_closed": {"en": "  = appeal window closed", "zh": "  = 申诉期已结束"},
    "upgrade.kept": {"en": "upgrade to {new}: {kind_en} of event {event} ({needs}) cannot be settled by {new}; "
                           "{old} settles it by its own rules (open until {until})",
                     "zh": "升级到 {new}：事件 {event} 的{kind_zh}（{needs}）新版本无法结清，"
                           "仍按 {old} 的规则结清（截止 {until}）"},
    "upgrade.carried": {"en": "upgrade to {new}: {kind_en} of event {event} ({needs}) carried from {old}; {new} "
                              "settles it by its own rules",
                        "zh": "升级到 {new}：事件 {event} 的{kind_zh}（{needs}）由 {old} 转入新版本，"
                              "按 {new} 的规则结清"},
    "upgrade.pending_expired": {"en": "upgrade to {new}: the award of event {event} pending verification under {old} "
                                      "is ended: {base} held points returned",
                                "zh": "升级到 {new}：事件 {event} 在 {old} 下待核实的奖励终止，退回待核实的 {base} 分"},
    "upgrade.appeal_closed": {"en": "upgrade to {new}: the appeal window of event {event} under {old} (until {until}) "
                                    "is closed now; the deduction stands",
                              "zh": "升级到 {new}：事件 {event} 在 {old} 下的申诉期（至 {until}）提前结束，扣分维持"},
    "upgrade.repair_expired": {"en": "upgrade to {new}: the repair {repair} of event {event} under {old} is ended; "
                                     "the deduction stands",
                               "zh": "升级到 {new}：事件 {event} 在 {old} 下的积分修复 {repair} 终止，扣分维持"},
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
    "base.campaign": {"en": "; campaign {campaign_name} ({campaign}): × {multiplier} + {bonus} → {base:+d}",
                      "zh": "；活动 {campaign_name}（{campaign}）：× {multiplier} + {bonus} → {base:+d} 分"},
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
        "en": "  · share {limit_id} ({scope} {scope_id}, {window}): holds {before} of a pool of {pool}; above "
              "{percent} once the pool reaches {limit} nothing more: {requested} requested → {granted}{outcome}",
        "zh": "  · 份额 {limit_id}（{scope} {scope_id}，{window}）：已得 {before}，池内共 {pool}；"
              "池内达到 {limit} 后超过 {percent} 者不再计分：申请 {requested} → 给予 {granted}{outcome}",
    },
    "step.floor": {
        "en": "  · floor: balance {before}, floor {limit}: {requested} → {granted}{outcome}",
        "zh": "  · 余额下限：余额 {before}，下限 {limit}：{requested} → {granted}{outcome}",
    },
    "within": {"en": "", "zh": ""},
    "truncated": {"en": " (truncated to fit)", "zh": "（截断至上限）"},
    "above": {"en": " (above the share: nothing more until the others catch up)",
              "zh": "（已超过份额：待他人追上前不再计分）"},
    "rejected": {"en": " (rejected: does not fit)", "zh": "（超出上限，整笔不予计分）"},
    "kind.cap": {"en": "cap", "zh": "上限"},
    "kind.budget": {"en": "budget", "zh": "预算"},
}

_SCOPES = {"zh": {"subject": "个人", "household": "家庭", "grid": "网格", "community": "社区"}}


def _field(name: str, lang: str) -> str:
    return _SCOPES.get(lang, {}).get(name, name)


class _Args(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _t(code: str, lang: str, **args: Any) -> str:
    template = _TEXT.get(code)
    if template is None:
        # A code from a newer version of the library, read back from an older record: say what is known.
        shown = ", ".join(f"{k}={v}" for k, v in args.items() if k != "base")
        return f"{code}({shown})"
    return template[lang].format_map(_Args(args))


def _base(rule: RuleTrace, lang: str, labels: Mapping[str, str]) -> str:
    args = dict(rule.base_args)
    field = args.get("field")
    if lang == "zh" and isinstance(field, str) and field in labels:
        args["field"] = labels[field]
    campaign = args.get("campaign")
    if "team_kind" in args:
        args["team_kind_zh"] = {"household": "家庭", "building": "楼栋", "grid": "网格"}.get(args["team_kind"], "")
        args["split_zh"] = {"each": "每人全额", "equal": "平均", "proportional": "按贡献"}.get(args["split"], "")
    if "unit" in args:
        args["unit_zh"] = _UNITS_ZH.get(args["unit"], args["unit"])
    if rule.base_code.startswith("upgrade.") and "kind" in args:
        args["kind_en"], args["kind_zh"] = _OPEN_ITEMS.get(args["kind"], (args["kind"], args["kind"]))
    text = _t(rule.base_code, lang, **{**args, "base": args["plain"] if campaign is not None else rule.base})
    if args.get("capped"):
        text += _t("base.per.capped", lang, **args)
    if args.get("clamped"):
        text += _t("base.range.clamped", lang)
    if args.get("rounded"):
        text += _t("base.rounded", lang)
    if campaign is not None:
        text += _t("base.campaign", lang, base=rule.base, **args)
    return text


_UNITS_ZH = {"day": "天", "week": "周"}
#: An open item's kind, in English and Chinese.
_OPEN_ITEMS = {"pending": ("the award pending verification", "待核实奖励"),
               "appeal": ("the right of appeal", "申诉权"),
               "repair": ("the repair under way", "进行中的积分修复"),
               "hold": ("the held redemption", "冻结中的兑换")}
_METRICS_ZH = {"events": "次数", "points": "积分", "units": "数量"}


def _step(step: LimitStep, lang: str) -> str:
    if step.kind == "streak":
        after = step.before + 1 if step.code in ("streak.extended", "streak.completed") else step.before
        text = _t(step.code, lang, before=step.before, after=after, limit=step.limit, requested=step.requested,
                  window=step.window, window_zh=_UNITS_ZH.get(step.window, step.window))
        return _t("step.streak", lang, limit_id=step.limit_id, streak_text=text)
    if step.kind == "honour":
        return _t("step.honour", lang, mode=step.mode, mode_zh=_METRICS_ZH.get(step.mode, step.mode),
                  done=f"{step.granted / 1000:g}", needed=f"{step.limit / 1000:g}")
    scope = _SCOPES.get(lang, {}).get(step.scope, step.scope)
    outcome_code = step.code.rsplit(".", 1)[-1]
    outcome = _t(outcome_code, lang) if outcome_code in _TEXT else ""
    template = f"step.{step.kind}" if f"step.{step.kind}" in _TEXT else "step.cap"
    kind = _t(f"kind.{step.kind}", lang) if f"kind.{step.kind}" in _TEXT else step.kind
    percent = f"{float(Fraction(step.param) * 100):.4g}%" if step.kind == "share" and step.param else ""
    repair_text = ""
    if step.kind == "repair":
        repair_text = _t(step.code, lang, before=step.before, limit=step.limit, param=step.param,
                         occurrence=step.before + 1, done=f"{step.granted / 1000:g}", needed=f"{step.limit / 1000:g}")
    return _t(template, lang, kind=kind, repair_text=repair_text, limit_id=step.limit_id, scope=scope,
              scope_id=step.scope_id,
              window=step.window, before=step.before, limit=step.limit, requested=step.requested,
              granted=step.granted, outcome=outcome, occurrence=step.before + 1, param=step.param,
              pool=step.pool, percent=percent)


def render(decision: Decision, lang: str, labels: Mapping[str, str] | None = None) -> str:
    """The decision as lines of text; ``lang`` is ``zh`` or ``en``. ``labels`` maps attribute names to the
    names Chinese text shows for them (the ``description`` of each attribute under ``events:``)."""
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    trace = decision.trace
    lines = [_t("header", lang, event_id=trace.event_id, event_type=trace.event_type, subject=trace.subject,
                occurred_local=trace.occurred_local, ruleset=trace.ruleset)]
    if decision.duplicate:
        lines.append(_t("duplicate", lang))
    if all(rule.base_code == "scope.registry" for rule in trace.rules):
        lines.append(_t("no_rule", lang))
    for rule in trace.rules:
        if rule.base_code == "scope.registry":
            changes = "; ".join(f"{_field(name, lang)} {change}" for name, change in rule.base_args.items())
            lines.append(_t("scope.registry", lang, changes=changes))
            continue
        category = rule.category_name or rule.category
        lines.append(_t("rule", lang, rule_id=rule.rule_id, rule_name=rule.rule_name, category=category,
                        base=_base(rule, lang, labels or {})))
        lines.extend(_step(step, lang) for step in rule.steps)
        if rule.status == "pending":
            lines.append(_t("pending", lang, base=rule.base))
        elif rule.status not in ("awarded", "verified", "reversed") and rule.granted == 0:
            code = f"status.{rule.status}"
            lines.append(_t(code, lang) if code in _TEXT else _t("status", lang, status=rule.status))
        else:
            lines.append(_t("granted", lang, granted=rule.granted))
    lines.append(_t("net", lang, points=decision.points))
    return "\n".join(lines)
