"""The fairness kit's texts in Chinese and English: property names' meanings, every violation, and the
``gridpoints check`` report lines.

A code maps to ``{"en": template, "zh": template}`` rendered with :meth:`str.format` (the style of
:mod:`gridpoints.ruleset._messages`). The English is the text the kit has always printed, so
``FairnessViolation.detail`` and ``str(violation)`` read as before. Beyond ``!r`` and format specs, templates
use ``!t`` (a term — scope, window, limit kind … — in the text's language), ``!p`` (points: a number, or
None for "no match"), ``!v`` (an attribute setting, None for "absent") and ``!&`` (a list joined with commas).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gridpoints.ruleset._messages import Lang, LangFormatter

__all__ = ["MESSAGES", "PROPERTY_MEANINGS", "TERMS_ZH", "Lang", "meaning", "render"]

#: Each standard property (and the host-declared ones) with its one-line meaning.
PROPERTY_MEANINGS: Final[dict[str, dict[str, str]]] = {
    "caps": {"en": "every cap and budget holds per scope and window",
             "zh": "每个上限和预算在各自范围和周期内都守住"},
    "shares": {"en": "every share limit reads the right totals and cuts only members above it",
               "zh": "每个份额限制读到的合计正确，只削减超过份额的成员"},
    "attribute_blind": {"en": "points depend only on legitimate grounds",
                        "zh": "积分只取决于正当依据"},
    "equal_treatment": {"en": "renaming residents, households and grids renames the outcome",
                        "zh": "换掉居民、家庭和网格的名字，结果只是跟着换名"},
    "determinism": {"en": "the same events always write the same ledger",
                    "zh": "同样的事件总是写出同样的账本"},
    "idempotency": {"en": "resubmitting events changes nothing",
                    "zh": "重复提交事件不改变任何东西"},
    "conservation": {"en": "the ledger balances",
                     "zh": "账本收支平衡"},
    "floor": {"en": "no deduction takes a balance below the floor",
              "zh": "扣分不会让余额低于下限"},
    "positive_events": {"en": "an event with only positive rules never lowers a balance",
                        "zh": "只命中加分规则的事件不会让余额减少"},
    "campaigns": {"en": "dated rules and campaigns apply exactly while in force",
                  "zh": "限期规则和活动只在有效期内生效，且加成正确"},
    "streaks": {"en": "every streak pays its bonus exactly when the run reaches its length",
                "zh": "连续打卡奖励恰好在连续天数达标时发放"},
    "honours": {"en": "badges, milestones and titles are held exactly as earned",
                "zh": "徽章、里程碑和称号的持有与获得一致"},
    "team_challenges": {"en": "team challenges pay the top teams by their split",
                        "zh": "团队挑战按排名和分配方式奖励前几名团队"},
    "targeting": {"en": "targeted items go only to eligible residents, within limits and stock",
                  "zh": "精准服务只发给符合条件的居民，不超过限领数量和库存"},
    "appeals_and_repairs": {"en": "appeals in time are accepted, late ones and self-reported repairs refused",
                            "zh": "按时申诉被受理，逾期申诉和自报的修复任务被拒绝"},
    "notices": {"en": "notices tell exactly what the ledger moved, once",
                "zh": "通知如实告知账本的变动，且只告知一次"},
    "event_type_bounds": {"en": "each bounded event type earns at most the intended points",
                          "zh": "每类受限事件的得分不超过预期上限"},
    "concentration": {"en": "no member above the intended share of its pool is awarded more",
                      "zh": "已超过预期份额的成员不再获得积分（防止积分垄断）"},
    "durable_base_points": {"en": "base points equal an independent durable_rules compilation's",
                            "zh": "基础分与独立的 durable_rules 编译结果一致"},
}

_SHARE_AT = {"en": "share {id!r}: {scope} {member!r} in {pool} {pool_id!r} ({window} {period}), event {event!r}: ",
             "zh":
             "份额 {id!r}：{scope!t} {member!r} 在{pool!t} {pool_id!r} 中（{window!t} {period}），事件 {event!r}："}
_GRANTED = {"en": "{subject!r} was granted {item!r} although ", "zh": "{subject!r} 领到了 {item!r}，但"}
_TEAM = {"en": "{id!r} {window}: ", "zh": "{id!r} {window}："}


def _after(prefix: Mapping[str, str], en: str, zh: str) -> dict[str, str]:
    return {"en": prefix["en"] + en, "zh": prefix["zh"] + zh}


MESSAGES: Final[dict[str, dict[str, str]]] = {
    "caps.exceeded": {
        "en": "{kind} {id!r} ({scope} {scope_id!r}, {window} {period}) reached {total} > limit {limit} with event "
              "{event!r}",
        "zh": "{kind!t} {id!r}（{scope!t} {scope_id!r}，{window!t} {period}）累计 {total} > 上限 {limit}，"
              "超出发生在事件 {event!r}"},
    "shares.misread": _after(_SHARE_AT, "read {before} of {pool_before}, but the awards before it total {held} of "
                                        "{total}",
                             "读到 {pool_before} 中的 {before}，但此前的奖励合计为 {total} 中的 {held}"),
    "shares.cut_below": _after(_SHARE_AT, "holds {held} of {total} (at most {share:.0%}) yet was cut from "
                                          "{requested} to {granted}",
                               "持有 {total} 中的 {held}（未超过 {share:.0%}），却被从 {requested} 削减到 {granted}"),
    "shares.paid_above": _after(_SHARE_AT, "holds {held} of {total}, above {share:.0%}, yet got {received}",
                                "持有 {total} 中的 {held}，超过 {share:.0%}，却仍得到 {received}"),
    "concentration.exceeded": {
        "en": "{label}: {member_scope} {member!r} held {held} of {pool_scope} {pool!r}'s {total} in {window} "
              "{period} (more than {share:.0%}, pool total >= {min_total}) and still got {amount} from event "
              "{event!r}",
        "zh": "{label!t}：{member_scope!t} {member!r} 在{window!t} {period} 持有{pool_scope!t} {pool!r} 合计 {total} "
              "中的 {held}（超过 {share:.0%}，合计已达 {min_total}），仍从事件 {event!r} 得到 {amount}"},
    "equal_treatment.points": {
        "en": "event {event!r} gave {subject!r} {points} points, but {renamed_points} once renamed to {renamed!r}",
        "zh": "事件 {event!r} 给 {subject!r} {points} 分，换名为 {renamed!r} 后却给 {renamed_points} 分"},
    "equal_treatment.balance": {
        "en": "{subject!r} ends with {balance}, renamed {renamed!r} with {renamed_balance}",
        "zh": "{subject!r} 最终余额 {balance}，换名为 {renamed!r} 后余额 {renamed_balance}"},
    "determinism.ledger": {
        "en": "{label} wrote a different ledger from entry {at} on ({count} entries against {reference})",
        "zh": "{label!t}从第 {at} 条分录起写出了不同的账本（{count} 条，对照 {reference} 条）"},
    "determinism.decision": {
        "en": "{label} decided event {event!r} differently: {theirs} against {mine} points",
        "zh": "{label!t}对事件 {event!r} 的决定不同：{theirs} 分，对照 {mine} 分"},
    "idempotency.resubmit": {
        "en": "resubmitting event {event!r} gave {points} points (first {first}), duplicate={duplicate}, "
              "{entries} new entries",
        "zh": "重复提交事件 {event!r} 得到 {points} 分（首次 {first} 分），是否识别为重复：{duplicate!t}，"
              "新写分录 {entries} 条"},
    "idempotency.head": {"en": "resubmitting events moved the ledger's head",
                         "zh": "重复提交事件移动了账本的链头"},
    "idempotency.ledger": {"en": "a ledger with resubmissions differs from one without",
                           "zh": "有重复提交的账本与没有重复提交的账本不同"},
    "conservation.sum": {"en": "accounts sum to {total}, not 0", "zh": "所有账户合计为 {total}，而不是 0"},
    "conservation.account": {"en": "account {account!r} holds {stored}, its entries say {expected}",
                             "zh": "账户 {account!r} 余额为 {stored}，但其分录合计为 {expected}"},
    "conservation.subject": {"en": "{subject!r} has balance {balance}, its entries sum to {own}",
                             "zh": "{subject!r} 的余额为 {balance}，但其分录合计为 {own}"},
    "floor.below": {"en": "event {event!r} took {subject!r} from {before} to {after}, below the floor {floor}",
                    "zh": "事件 {event!r} 使 {subject!r} 的余额从 {before} 降到 {after}，低于下限 {floor}"},
    "positive_events.lowered": {
        "en": "event {event!r} (all base points positive) took {subject!r} from {before} to {after}",
        "zh": "事件 {event!r}（基础分全为正）使 {subject!r} 的余额从 {before} 降到 {after}"},
    "positive_events.lowered_rules": {
        "en": "event {event!r} (all base points positive) took {subject!r} from {before} to {after}; rules "
              "{rules} granted less than 0",
        "zh": "事件 {event!r}（基础分全为正）使 {subject!r} 的余额从 {before} 降到 {after}；规则 {rules!&} "
              "给出了负分"},
    "campaigns.validity": {"en": "rule {rule!r} matched event {event!r} at {at}, outside its validity",
                           "zh": "规则 {rule!r} 在 {at} 命中事件 {event!r}，不在其有效期内"},
    "campaigns.wrong": {
        "en": "event {event!r}, rule {rule!r}: campaign {campaign!r} gave {points}; the ruleset says {wanted!r} "
              "with {expected}",
        "zh": "事件 {event!r}，规则 {rule!r}：活动 {campaign!r} 给出 {points}；按规则集应为活动 {wanted!r}、"
              "{expected} 分"},
    "targeting.grid": _after(_GRANTED, "its grid {grid!r} is not in {allowed}",
                             "其网格 {grid!r} 不在 {allowed!&} 之中"),
    "targeting.tags": _after(_GRANTED, "it holds none of the tags {allowed}", "其不具有 {allowed!&} 中的任何标签"),
    "targeting.age_band": _after(_GRANTED, "its age band {band!r} is not in {allowed}",
                                 "其年龄段 {band!r} 不在 {allowed!&} 之中"),
    "targeting.roles": _after(_GRANTED, "it holds none of the roles {allowed}", "其不具有 {allowed!&} 中的任何角色"),
    "targeting.min_balance": _after(_GRANTED, "its balance {balance} is below {bound}",
                                    "其余额 {balance} 低于 {bound}"),
    "targeting.max_balance": _after(_GRANTED, "its balance {balance} is above {bound}",
                                    "其余额 {balance} 高于 {bound}"),
    "targeting.earned": _after(_GRANTED, "it earned {earned} this {window}, outside [{min}, {max}]",
                               "其本{window!t}获得 {earned} 分，不在 [{min}, {max}] 之内"),
    "targeting.entitlement": {"en": "entitlement {item!r} moved points for {subject!r}",
                              "zh": "权益 {item!r} 为 {subject!r} 动用了积分"},
    "targeting.over_limit": {"en": "{subject!r} claimed {item!r} {won} times, over its limit {limit}",
                             "zh": "{subject!r} 领取 {item!r} {won} 次，超过限领 {limit} 次"},
    "targeting.stock": {"en": "{taken} units of {item!r} went out of a stock of {stock}",
                        "zh": "{item!r} 发出 {taken} 件，超过库存 {stock} 件"},
    "appeals.late_accepted": {
        "en": "an appeal of {event!r} decided after its window closed, never lodged, was accepted",
        "zh": "对 {event!r} 的申诉在申诉期结束后才裁决且从未提出，却被受理"},
    "appeals.refused_wrote": {"en": "a refused appeal wrote entries", "zh": "被拒绝的申诉写入了分录"},
    "appeals.lodged_refused": {
        "en": "an appeal of {event!r} lodged at the last second of its window was refused: {error}",
        "zh": "对 {event!r} 的申诉在申诉期最后一秒提出，却被拒绝：{error}"},
    "appeals.gave_back": {
        "en": "an appeal of {event!r} lodged in time and upheld later gave back {points}, not {amount}",
        "zh": "对 {event!r} 的申诉按时提出、后来被支持，退回 {points} 分而不是 {amount} 分"},
    "repairs.self_reported": {
        "en": "a self-reported task ({tag}) counted toward the repair of {event!r}, which needs a verifier",
        "zh": "自报的任务（{tag!t}）被计入 {event!r} 的修复，而该修复需要核实人"},
    "repairs.refused_wrote": {"en": "a refused repair task wrote entries", "zh": "被拒绝的修复任务写入了分录"},
    "notices.cursors": {"en": "cursors {cursors} do not run 1, 2, 3 …",
                        "zh": "通知游标 {cursors} 没有按 1、2、3 … 递增"},
    "notices.sum": {"en": "{subject!r} was told of {told} points, its entries moved {moved}",
                    "zh": "{subject!r} 收到的通知共 {told} 分，其分录却变动了 {moved} 分"},
    "notices.again": {"en": "resubmitted events told something again", "zh": "重复提交的事件再次发出了通知"},
    "streaks.paid": {"en": "event {event!r}, streak {streak!r}: paid {got!r}, the ruleset says {expected}",
                     "zh": "事件 {event!r}，连续奖励 {streak!r}：发放 {got!r}，按规则集应为 {expected}"},
    "streaks.paid_no_row": {"en": "event {event!r}, streak {streak!r}: paid {got!r}, the ruleset says no row",
                            "zh": "事件 {event!r}，连续奖励 {streak!r}：发放 {got!r}，按规则集不应有此项"},
    "honours.times": {"en": "{subject!r} holds {honour!r} {held} times, earned {times} in the decisions",
                      "zh": "{subject!r} 持有 {honour!r} {held} 次，决定中却获得 {times} 次"},
    "honours.repeated": {"en": "{subject!r} earned {honour!r} {times} times",
                         "zh": "{subject!r} 获得 {honour!r} {times} 次（只应一次）"},
    "honours.milestone": {
        "en": "{subject!r}: {metric} of {rules} total {total} against {at}, honour held: {held}",
        "zh": "{subject!r}：规则 {rules!&} 的{metric!t}合计 {total}，门槛 {at}，是否持有荣誉：{held!t}"},
    "team_challenges.winners": _after(_TEAM, "winners {winners}, the ranking says {wanted}",
                                      "获胜团队为 {winners}，按排名应为 {wanted}"),
    "team_challenges.members": _after(_TEAM, "paid {paid} of team {team!r}", "只奖励了团队 {team!r} 的 {paid}"),
    "team_challenges.split": _after(_TEAM, "team {team!r} paid {paid} by {split} (bonus {bonus})",
                                    "团队 {team!r} 按{split!t}分配得到 {paid}（奖励 {bonus}）"),
    "attribute_blind.ground": {
        "en": "rule {rule!r} gives event {event!r} {base!p} with {was!v} but {moved!p} with {shown!v}: {name!r} is "
              "not a legitimate ground for it (declare it in the rule's or event type's 'legitimate' list if it is "
              "one)",
        "zh": "规则 {rule!r} 在 {was!v} 时给事件 {event!r} {base!p}，在 {shown!v} 时却给 {moved!p}：{name!r} 不是它的"
              "正当依据（如果是，请在规则或事件类型的 legitimate 列表中声明）"},
    "durable_base_points.differ": {
        "en": "event {event!r}: the engine's base points {mine} differ from durable_rules' {theirs}",
        "zh": "事件 {event!r}：引擎的基础分 {mine} 与 durable_rules 的 {theirs} 不同"},
    "event_type_bounds.exceeded": {
        "en": "{type!r} events earned {scope} {scope_id!r} {total} points in {window} {period} (intended at most "
              "{limit}; event {event!r}, rule {rule!r})",
        "zh": "{type!r} 类事件在{window!t} {period} 给{scope!t} {scope_id!r} 共 {total} 分（预期至多 {limit} 分；"
              "事件 {event!r}，规则 {rule!r}）"},
    "engine.raised": {"en": "the engine raised {kind}: {error}", "zh": "引擎抛出 {kind}：{error}"},
    # Around a violation and in the ``gridpoints check`` report.
    "counterexample": {
        "en": "counter-example for {ref} ({count} event(s), shrunk; save as events.jsonl and replay with "
              "`gridpoints run RULESET events.jsonl`):",
        "zh": "{ref} 的反例（{count} 个事件，已缩减；保存为 events.jsonl，用 "
              "`gridpoints run RULESET events.jsonl` 重放）："},
    "also_failing": {"en": "(also failing: {names!&})", "zh": "（同样未通过：{names!&}）"},
    "check.header": {"en": "{ref}: {count} properties, {examples} example(s) each",
                     "zh": "{ref}：{count} 项公平性质，每项 {examples} 个样例"},
    "check.pass": {"en": "PASS {name} ({meaning})", "zh": "通过 {name}（{meaning}）"},
    "check.fail": {"en": "FAIL {name} ({meaning}): {detail}", "zh": "未通过 {name}（{meaning}）：{detail}"},
    "check.summary": {"en": "{passed} passed, {failed} failed", "zh": "{passed} 项通过，{failed} 项未通过"},
    "plugin.fails": {"en": "{ref} fails {name}: {detail}", "zh": "{ref} 未通过 {name}：{detail}"},
    "check.invalid": {"en": "{path}: invalid ruleset ({count} problem(s))",
                      "zh": "{path}：规则集无效（{count} 处问题）"},
}

#: Terms the templates show with ``!t``: scopes, windows, limit kinds, labels, yes/no.
TERMS_ZH: Final[dict[str, str]] = {
    "subject": "居民", "household": "家庭", "grid": "网格", "community": "社区", "building": "楼栋",
    "day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年",
    "cap": "上限", "budget": "预算", "share": "份额",
    "intended bound": "预期界限", "a second engine": "第二个引擎", "a batch (submit_many)": "批量提交",
    "none": "无人证明", "self": "本人证明", "points": "积分", "events": "事件数",
    "each": "每人全额", "equal": "平均", "proportional": "按贡献比例",
    "True": "是", "False": "否",
}


class _Formatter(LangFormatter):
    """:meth:`str.format` with the kit's ``!t``, ``!p``, ``!v`` and ``!&`` conversions."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        zh = self.lang == "zh"
        if conversion == "t":
            return TERMS_ZH.get(str(value), str(value)) if zh else str(value)
        if conversion == "p":
            if value is None:
                return "不得分（未匹配）" if zh else "no points (no match)"
            return f"{value} 分" if zh else f"{value} points"
        if conversion == "v":
            return ("缺省" if zh else "absent") if value is None else str(value)
        if conversion == "&":
            items = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
            return ("、" if zh else ", ").join(items)
        return super().convert_field(value, conversion)


_FORMAT: Final = _Formatter()


def render(code: str, lang: Lang, params: Mapping[str, Any]) -> str:
    """The text ``code`` in ``lang`` with ``params``; an unknown code shows itself with its parameters."""
    entry = MESSAGES.get(code)
    if entry is None:
        return f"{code}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
    return _FORMAT.text(entry[lang], lang, params)


def meaning(name: str, lang: Lang) -> str:
    """A property's one-line meaning in ``lang`` (a host's own check, unknown here, shows its name)."""
    return PROPERTY_MEANINGS.get(name, {}).get(lang, name)
