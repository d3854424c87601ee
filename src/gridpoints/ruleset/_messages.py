"""The catalogue of every ruleset diagnostic, in Chinese and English, rendered from message codes.

Each problem the loader, the models, the semantic checks, the ``when:`` compiler and lint report carries a
stable message code and its parameters (:attr:`gridpoints.errors.Issue.code`, ``.params``); :func:`render`
turns them into text in ``zh`` or ``en`` (the English is the text these problems always had, so
``str(error)`` reads as before). Templates are :meth:`str.format` strings with three extra conversions:
``!t`` shows a DSL term (``household``, ``month``, ``cap``) in the text's language, ``!&`` joins a list
with "and", and a list shown plainly is joined with commas (``、`` in Chinese).

Pydantic's own error types (``missing``, ``int_parsing``, ``greater_than_equal`` …) render from
:data:`PYDANTIC` with pydantic's context (``ge``, ``max_length`` …); YAML syntax errors from the parser's
problem text through :func:`yaml_problem`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Final, Literal

from gridpoints.errors import Issue

Lang = Literal["zh", "en"]

#: Message code → {"en": template, "zh": template}.
MESSAGES: Final[dict[str, dict[str, str]]] = {
    # -- reading the file and the YAML ---------------------------------------------------------------------
    "file.unreadable": {"en": "cannot read ruleset: {error}",
                        "zh": "无法读取规则集文件（系统错误 {errno}）"},
    "file.not_utf8": {"en": "cannot read ruleset: {error}",
                      "zh": "规则集文件不是 UTF-8 编码的文本（第 {position} 字节无法解码）"},
    "file.not_a_file": {"en": "not a file: {file} is a directory or device",
                        "zh": "不是文件：{file} 是目录或设备"},
    "file.missing": {"en": "no such ruleset file: {file}", "zh": "找不到规则集文件：{file}"},
    "limit.bytes_size": {"en": "ruleset is {size} bytes, more than max_bytes = {max_bytes}",
                         "zh": "规则集有 {size} 字节，超过上限 max_bytes = {max_bytes}"},
    "limit.bytes": {"en": "ruleset is more than max_bytes = {max_bytes} bytes",
                    "zh": "规则集超过上限 max_bytes = {max_bytes} 字节"},
    "yaml.surrogate": {"en": "not valid YAML: text that is not Unicode (lone surrogate at character {position})",
                       "zh": "不是有效的 YAML：文本含有非 Unicode 字符（第 {position} 个字符是孤立的代理项）"},
    "yaml.syntax": {"en": "not valid YAML: {problem}", "zh": "不是有效的 YAML：{problem_zh}"},
    "yaml.too_deep": {"en": "nested too deeply to read (max_depth = {max_depth})",
                      "zh": "嵌套太深，无法读取（max_depth = {max_depth}）"},
    "yaml.alias_undefined": {"en": "ruleset refused: undefined alias *{alias}",
                             "zh": "规则集被拒绝：别名 *{alias} 未定义"},
    "yaml.alias_recursive": {"en": "ruleset refused: alias *{alias} refers to a node that contains it",
                             "zh": "规则集被拒绝：别名 *{alias} 引用了包含它自身的节点"},
    "yaml.anchor_duplicate": {"en": "ruleset refused: duplicate anchor &{anchor}",
                              "zh": "规则集被拒绝：锚点 &{anchor} 重复"},
    "limit.nodes_alias": {"en": "ruleset refused: more than max_nodes = {max_nodes} YAML nodes with aliases expanded "
                                "(*{alias} stands for {size})",
                          "zh": "规则集被拒绝：展开别名后 YAML 节点超过上限 max_nodes = {max_nodes}"
                                "（*{alias} 代表 {size} 个节点）"},
    "limit.depth_alias": {"en": "ruleset refused: nested deeper than max_depth = {max_depth} with *{alias} expanded",
                          "zh": "规则集被拒绝：展开 *{alias} 后嵌套深度超过上限 max_depth = {max_depth}"},
    "limit.nodes": {"en": "ruleset refused: more than max_nodes = {max_nodes} YAML nodes",
                    "zh": "规则集被拒绝：YAML 节点超过上限 max_nodes = {max_nodes}"},
    "limit.scalar": {"en": "ruleset refused: a value longer than max_scalar = {max_scalar} characters",
                     "zh": "规则集被拒绝：有一个值超过上限 max_scalar = {max_scalar} 个字符"},
    "limit.depth": {"en": "ruleset refused: nested deeper than max_depth = {max_depth}",
                    "zh": "规则集被拒绝：嵌套深度超过上限 max_depth = {max_depth}"},
    "limit.items": {"en": "{count} entries, more than max_items = {max_items}",
                    "zh": "共 {count} 项，超过上限 max_items = {max_items}"},
    "yaml.tag": {"en": "unsupported YAML tag {tag!r}: a ruleset uses plain text, numbers, true/false, lists and "
                       "mappings",
                 "zh": "不支持的 YAML 标签 {tag!r}：规则集只使用文本、数字、true/false、列表和映射"},
    "yaml.tag_collection": {"en": "unsupported YAML tag {tag!r}", "zh": "不支持的 YAML 标签 {tag!r}"},
    "yaml.merge_key": {"en": "YAML merge keys (<<) are not supported", "zh": "不支持 YAML 合并键（<<）"},
    "yaml.complex_key": {"en": "a mapping key must be text or a number, not a list or mapping",
                         "zh": "映射的键必须是文本或数字，不能是列表或映射"},
    "yaml.duplicate_key": {"en": "duplicate key {key!r}", "zh": "键 {key!r} 重复"},
    "yaml.scalar_unreadable": {"en": "cannot read {value!r} as {kind}: {error}",
                               "zh": "无法把 {value!r} 读作{kind!t}"},
    "spec.not_mapping": {"en": "expected a mapping with 'ruleset', 'version', 'rules', got {kind}",
                         "zh": "应为含有 'ruleset'、'version'、'rules' 的映射，实际为{kind!t}"},
    # -- the models (pydantic, as the loader reports it) -----------------------------------------------------
    "key.unknown": {"en": "unknown key {key!r}; expected one of: {options}",
                    "zh": "未知的键 {key!r}；可用的键：{options}"},
    "key.unknown_bare": {"en": "unknown key {key!r}", "zh": "未知的键 {key!r}"},
    "key.missing": {"en": "missing required key {key!r}", "zh": "缺少必填的键 {key!r}"},
    "limit.kind": {"en": "expected kind: cap, diminishing, share or budget, got {got!r}",
                   "zh": "kind 应为 cap、diminishing、share 或 budget，实际为 {got!r}"},
    "value.literal": {"en": "expected {expected}, got {got!r}", "zh": "应为 {options} 之一，实际为 {got!r}"},
    "value.invalid": {"en": "{msg}, got {got}", "zh": "{expected_zh}，实际为 {got}"},
    "attribute.min_above_max": {"en": "min must not be above max, got min {min:g} and max {max:g}",
                                "zh": "min 不能大于 max，实际 min 为 {min:g}、max 为 {max:g}"},
    "points.range_order": {"en": "range must be [lo, hi] with lo <= hi, got {range!r}",
                           "zh": "range 应为 [lo, hi] 且 lo <= hi，实际为 {range!r}"},
    "duration.form": {"en": "expected a duration like '12h', '7d' or '2w' (at most 99999h, 9999d or 999w), "
                            "got {value!r}",
                      "zh": "应为形如 '12h'、'7d' 或 '2w' 的时长（最多 99999h、9999d 或 999w），实际为 {value!r}"},
    "duration.range": {"en": "expected a duration from 0 to {max_days} days, got {value}",
                       "zh": "时长应在 0 到 {max_days} 天之间，实际为 {value}"},
    "datetime.no_offset": {"en": "a date-time needs a UTC offset (e.g. {value}+08:00); the engine never guesses a "
                                 "zone",
                           "zh": "日期时间需要带 UTC 偏移（例如 {value}+08:00）；引擎从不猜测时区"},
    "datetime.year_range": {"en": "expected a time in the years {earliest} to {latest}, got {value}",
                            "zh": "时间应在 {earliest} 年到 {latest} 年之间，实际为 {value}"},
    "validity.order": {"en": "valid_until ({until}) must be after valid_from ({since})",
                       "zh": "valid_until（{until}）必须晚于 valid_from（{since}）"},
    "challenge.grid_scope": {"en": "grids compete community-wide: a team: grid challenge needs scope: community",
                             "zh": "网格之间在全社区范围内比赛：team: grid 的挑战赛需要 scope: community"},
    "earned.no_bound": {"en": "give 'min', 'max' or both", "zh": "请给出 'min'、'max' 或两者"},
    "earned.order": {"en": "min ({min}) must not exceed max ({max})", "zh": "min（{min}）不能大于 max（{max}）"},
    "balance.order": {"en": "min_balance ({min}) must not exceed max_balance ({max})",
                      "zh": "min_balance（{min}）不能大于 max_balance（{max}）"},
    "item.both_from": {"en": "give valid_from or its older name available_from, not both",
                       "zh": "valid_from 与其旧名 available_from 只能给出一个"},
    "item.both_until": {"en": "give valid_until or its older name available_until, not both",
                        "zh": "valid_until 与其旧名 available_until 只能给出一个"},
    "campaign.no_raise": {"en": "a campaign needs a multiplier above 1 or a bonus",
                          "zh": "活动需要大于 1 的 multiplier 或 bonus"},
    "honour.one_source": {"en": "an honour comes from exactly one of challenge, streak or milestone",
                          "zh": "荣誉必须且只能来自 challenge、streak、milestone 中的一个"},
    "honour.one_source_not": {"en": "an honour comes from exactly one of challenge, streak or milestone, "
                                    "not {given!&}",
                              "zh": "荣誉必须且只能来自 challenge、streak、milestone 中的一个，不能同时给出 {given!&}"},
    "timezone.unknown": {"en": "unknown IANA time zone {zone!r}", "zh": "未知的 IANA 时区 {zone!r}"},
    # -- the when: condition language ----------------------------------------------------------------------
    "cond.date_datetime": {"en": "event.date compares with a date (YYYY-MM-DD), not a date-time {arg!r}",
                           "zh": "event.date 只与日期（YYYY-MM-DD）比较，不能是日期时间 {arg!r}"},
    "cond.date_form": {"en": "event.date compares with a date like 2026-06-01, got {arg!r}",
                       "zh": "event.date 应与形如 2026-06-01 的日期比较，实际为 {arg!r}"},
    "cond.exists_bool": {"en": "'exists' takes true or false, got {arg!r}",
                         "zh": "'exists' 只接受 true 或 false，实际为 {arg!r}"},
    "cond.needs_list": {"en": "{op!r} takes a list, got {arg!r}", "zh": "{op!r} 需要一个列表，实际为 {arg!r}"},
    "cond.list_finite": {"en": "{op!r} takes finite numbers, got {item!r}",
                         "zh": "{op!r} 只接受有限的数，实际为 {item!r}"},
    "cond.list_scalars": {"en": "{op!r} takes a list of scalars (text, numbers, true/false), got {item!r}",
                          "zh": "{op!r} 需要由单个值（文本、数字、true/false）组成的列表，实际为 {item!r}"},
    "cond.needs_scalar": {"en": "{op!r} takes a scalar, got {arg!r}", "zh": "{op!r} 需要单个值，实际为 {arg!r}"},
    "cond.finite": {"en": "{op!r} takes a finite number, got {arg!r}", "zh": "{op!r} 需要有限的数，实际为 {arg!r}"},
    "cond.needs_number": {"en": "{op!r} takes a number, got {arg!r}", "zh": "{op!r} 需要一个数，实际为 {arg!r}"},
    "cond.not_mapping": {"en": "expected a mapping of conditions, got {spec!r}",
                         "zh": "应为由条件组成的映射，实际为 {spec!r}"},
    "cond.empty": {"en": "an empty condition; leave out 'when' to match every event",
                   "zh": "条件为空；如要匹配所有事件，请删去 'when'"},
    "cond.key_not_name": {"en": "condition keys are names, got {key!r}", "zh": "条件的键应为名称，实际为 {key!r}"},
    "cond.combinator_list": {"en": "{key!r} takes a non-empty list of conditions, got {value!r}",
                             "zh": "{key!r} 需要非空的条件列表，实际为 {value!r}"},
    "cond.unknown_event_field": {"en": "unknown event field {key!r}", "zh": "未知的事件字段 {key!r}"},
    "cond.empty_operators": {"en": "an empty operator mapping", "zh": "运算符映射为空"},
    "cond.unknown_operator": {"en": "unknown operator {op!r}; expected one of {operators}",
                              "zh": "未知的运算符 {op!r}；可用：{operators}"},
    "cond.list_needs_operator": {"en": "a list needs an operator: write {{in: {value!r}}}",
                                 "zh": "列表需要运算符：请写成 {{in: {value!r}}}"},
    # -- checks across the ruleset ------------------------------------------------------------------------
    "id.duplicate": {"en": "duplicate id {id!r} (first used at {section}[{first}])",
                     "zh": "编号 {id!r} 重复（首次出现在 {section}[{first}]）"},
    "category.unknown_declared": {"en": "unknown category {category!r}; declared: {declared}",
                                  "zh": "未知的类别 {category!r}；已声明的类别：{declared}"},
    "category.unknown": {"en": "unknown category {category!r}", "zh": "未知的类别 {category!r}"},
    "category.unknown_declare": {"en": "unknown category {category!r}; declare it under 'categories'",
                                 "zh": "未知的类别 {category!r}；请在 'categories' 下声明"},
    "rule.on_reserved": {"en": "{on!r} is reserved: the engine handles it to settle earlier events (verification "
                               "and appeal)",
                         "zh": "{on!r} 是保留的事件类型：引擎用它结算先前的事件（核实与申诉）"},
    "rule.verify_deduction": {"en": "only awards can wait for verification, not deductions",
                              "zh": "只有奖励可以等待核实，扣分不可以"},
    "rule.appeal_award": {"en": "only deductions can be appealed; set category: deduction or remove 'appeal'",
                          "zh": "只有扣分可以申诉；请设置 category: deduction，或删去 'appeal'"},
    "repair.unknown": {"en": "unknown repair {repair!r}", "zh": "未知的积分修复 {repair!r}"},
    "rule.repair_award": {"en": "only deductions can be repaired", "zh": "只有扣分可以修复"},
    "rule.scheduled_form": {"en": "a scheduled rule (on: period.*) awards fixed points to every registered subject: "
                                  "no 'when', no 'verify', an integer 'points'",
                            "zh": "定时规则（on: period.*）给每个登记对象发放固定积分：不能有 'when' 或 'verify'，"
                                  "'points' 须为整数"},
    "rule.credit_needs_verify": {"en": "worker credit needs 'verify' on the rule",
                                 "zh": "网格员绩效（credit_worker）需要规则设置 'verify'"},
    "repair.task_taken": {"en": "{task!r} is handled by rules; a repair task type must be its own",
                          "zh": "{task!r} 已由规则处理；修复任务须使用专门的事件类型"},
    "tier.unknown": {"en": "unknown tier {tier!r}", "zh": "未知的等级 {tier!r}"},
    "rule.unknown": {"en": "unknown rule {rule!r}", "zh": "未知的规则 {rule!r}"},
    "limit.continues_taken": {"en": "limit {limit!r} continues {continues!r}, whose counters {taken!r} already "
                                    "reads: two limits would share them",
                              "zh": "限额 {limit!r} 接续 {continues!r} 的计数器，但 {taken!r} 已在读取它们："
                                    "两个限额会共用计数器"},
    "streak.unknown_event": {"en": "no rule, repair or declared event type {name!r}",
                             "zh": "{name!r} 不是任何规则、积分修复处理的或已声明的事件类型"},
    "challenge.unknown": {"en": "unknown challenge {challenge!r}", "zh": "未知的挑战赛 {challenge!r}"},
    "streak.unknown": {"en": "unknown streak {streak!r}", "zh": "未知的连续打卡 {streak!r}"},
    "milestone.units_not_per_unit": {"en": "metric: units counts the units of per-unit rules; {rule!r} has no "
                                           "'per'",
                                     "zh": "metric: units 统计按单位计分的规则的数量；{rule!r} 没有 'per'"},
    "item.entitlement_unbounded": {"en": "an entitlement (cost 0) needs a 'stock' or a per-subject 'limit'; "
                                         "otherwise it is unbounded",
                                   "zh": "权益（cost 0）需要 'stock' 或每人的 'limit'，否则数量不受限制"},
    "item.entitlement_holds": {"en": "an entitlement (cost 0) holds no points: remove {key!r} or give the item a "
                                     "cost",
                               "zh": "权益（cost 0）不冻结积分：请删去 {key!r}，或给商品设定 cost"},
    "item.ceiling_below_cost": {"en": "max_balance {ceiling} is below the cost {cost}: nobody could redeem it",
                                "zh": "max_balance {ceiling} 低于 cost {cost}：没有人能兑换"},
    "attribute.not_numeric": {"en": "attribute {field!r} of {on!r} is declared as {type}, but this rule reads it "
                                    "as a number",
                              "zh": "{on!r} 的属性 {field!r} 声明为 {type}，但此规则把它当作数来读"},
    "attribute.table_number": {"en": "attribute {field!r} is a number; a table looks up exact values, declare it "
                                     "as integer or string",
                               "zh": "属性 {field!r} 是 number；查表按精确值查找，请声明为 integer 或 string"},
    # -- lint's warnings ------------------------------------------------------------------------------------
    "lint.undeclared_event": {"en": "rule {rule!r} handles {on!r}, which 'events' does not declare and no other "
                                    "rule uses; did you mean {near!r}? (declare it under 'events' if it is a new "
                                    "type)",
                              "zh": "规则 {rule!r} 处理 {on!r}，但 'events' 没有声明它，也没有别的规则使用它，"
                                    "可能是 {near!r} 的笔误（若是新的事件类型，请在 'events' 下声明）"},
    "lint.unhandled_event": {"en": "no rule handles {name!r}: its events will be refused; add a rule or "
                                   "'ignore: true'",
                             "zh": "没有规则处理 {name!r}：这类事件会被拒收；请添加规则，或设置 'ignore: true'"},
    "lint.rule_on_ignored": {"en": "rule {rule!r} handles {on!r}, which the ruleset ignores",
                             "zh": "规则 {rule!r} 处理的 {on!r} 已被规则集忽略"},
    "lint.rule_never_matches": {"en": "rule {rule!r} can never match: no value of {field!r} satisfies its "
                                      "condition",
                                "zh": "规则 {rule!r} 永远不会匹配：{field!r} 没有任何取值能满足它的条件"},
    "lint.campaign_selects_nothing": {"en": "campaign {campaign!r} selects no rule that awards points on an event "
                                            "(scheduled rules and deductions are never raised)",
                                      "zh": "活动 {campaign!r} 没有选中任何按事件发放积分的规则（定时规则和扣分不会被"
                                            "加成）"},
    "lint.campaign_out_of_force": {"en": "campaign {campaign!r} runs while none of its rules is in force",
                                   "zh": "活动 {campaign!r} 进行期间，它的规则都不在有效期内"},
    "lint.campaign_never_matches": {"en": "campaign {campaign!r} can never apply: no {field} satisfies its "
                                          "condition",
                                    "zh": "活动 {campaign!r} 永远不会生效：{field} 没有任何取值能满足它的条件"},
    "lint.campaign_overlap": {"en": "campaigns {other!r} and {campaign!r} overlap on {rules}: they never stack; "
                                    "each award gets the one giving more points ({other!r} on a tie)",
                              "zh": "活动 {other!r} 与 {campaign!r} 在 {rules} 上重叠：两者不叠加，每笔奖励取积分"
                                    "较多的一个（相同时取 {other!r}）"},
    "lint.streak_does_nothing": {"en": "streak {streak!r} pays no bonus and no honour names it",
                                 "zh": "连续打卡 {streak!r} 没有奖励分，也没有荣誉引用它"},
    "lint.milestone_never_earned": {"en": "milestone {honour!r} counts earnings of rules that never award points",
                                    "zh": "里程碑 {honour!r} 统计的规则从不发放积分"},
    "lint.honour_title_differs": {"en": "honour {honour!r} is named {name!r} but challenge {challenge!r} gives the "
                                        "title {title!r}",
                                  "zh": "荣誉 {honour!r} 名为 {name!r}，但挑战赛 {challenge!r} 授予的称号是 {title!r}"},
    "lint.team_bonus_each": {"en": "every member of {challenge!r}'s winning {team} gets the whole bonus, so a bigger "
                                   "{team} is paid more; split: equal pays the team the bonus once",
                             "zh": "挑战赛 {challenge!r} 获胜的{team!t}中每位成员都得到全额奖励，人多的{team!t}"
                                   "得分更多；split: equal 让每队只得一次奖励"},
    "lint.table_open": {"en": "nothing limits {by!r} to the table's rows; an event with another value is rejected — "
                              "add a 'when' with 'in', an enum under 'events', or a 'default'",
                        "zh": "没有条件把 {by!r} 限定在表中的各行；取其他值的事件会被拒收——请添加带 'in' 的 "
                              "'when'、在 'events' 下设 enum，或设置 'default'"},
    "lint.table_gap": {"en": "the condition allows {by} = {missing}, which the table has no row for",
                       "zh": "条件允许 {by} = {missing}，但表中没有对应的行"},
    "lint.limit_selects_nothing": {"en": "{kind} {limit!r} selects no rule that awards points",
                                   "zh": "{kind!t} {limit!r} 没有选中任何发放积分的规则"},
    "lint.cap_never_binds": {"en": "cap {cap!r} ({limit} per {window}) can never bind: {other!r} already allows at "
                                   "most {other_limit} per {other_window} × {factor} = {product}",
                             "zh": "上限 {cap!r}（每{window!t} {limit}）永远不会起作用：{other!r} 已限定每"
                                   "{other_window!t}最多 {other_limit}，× {factor} = {product}"},
    "lint.open_entitlement": {"en": "entitlement {item!r} (cost 0) has no eligibility: every registered subject may "
                                    "claim it",
                              "zh": "权益 {item!r}（cost 0）没有 eligibility：每个登记对象都可以领取"},
    "lint.unverified_repair": {"en": "repair {repair!r} restores on task events nobody attests (a violator can "
                                     "self-report them); add 'verify: {{by: [grid_worker]}}'",
                               "zh": "积分修复 {repair!r} 依据无人核实的任务事件恢复积分（违规者可以自行上报）；"
                                     "请添加 'verify: {{by: [grid_worker]}}'"},
    "lint.notice_never_sent": {"en": "no part of the ruleset can cause a {kind!r} notice",
                               "zh": "规则集中没有任何部分会产生 {kind!r} 通知"},
}

#: What a pydantic error type says was expected, in each language. A type not listed here reads as
#: "invalid value (TYPE)" in Chinese and as pydantic's own message in English.
PYDANTIC: Final[dict[str, dict[str, str]]] = {
    "int_type": {"en": "expected an integer", "zh": "应为整数"},
    "int_parsing": {"en": "expected an integer", "zh": "应为整数"},
    "int_from_float": {"en": "expected an integer", "zh": "应为整数"},
    "int_parsing_size": {"en": "expected an integer", "zh": "应为整数（数值过大）"},
    "float_type": {"en": "expected a number", "zh": "应为数"},
    "float_parsing": {"en": "expected a number", "zh": "应为数"},
    "string_type": {"en": "expected a string", "zh": "应为文本"},
    "string_unicode": {"en": "expected a string", "zh": "应为 Unicode 文本"},
    "bool_type": {"en": "expected true or false", "zh": "应为 true 或 false"},
    "bool_parsing": {"en": "expected true or false", "zh": "应为 true 或 false"},
    "list_type": {"en": "expected a list", "zh": "应为列表"},
    "tuple_type": {"en": "expected a list", "zh": "应为列表"},
    "set_type": {"en": "expected a list", "zh": "应为列表"},
    "dict_type": {"en": "expected a mapping", "zh": "应为映射"},
    "model_type": {"en": "expected a mapping", "zh": "应为映射"},
    "model_attributes_type": {"en": "expected a mapping", "zh": "应为映射"},
    "timezone_aware": {"en": "expected a date-time with a UTC offset, e.g. 2026-05-01T00:00:00+08:00",
                       "zh": "应为带 UTC 偏移的日期时间，例如 2026-05-01T00:00:00+08:00"},
    "finite_number": {"en": "expected a finite number", "zh": "应为有限的数"},
    "points_form": {"en": "expected an integer or a mapping with 'per', 'by' or 'range'",
                    "zh": "应为整数，或含有 'per'、'by' 或 'range' 的映射"},
    "limit_kind": {"en": "expected kind: cap, diminishing, share or budget",
                   "zh": "kind 应为 cap、diminishing、share 或 budget"},
    # Pydantic's own message is the English for these (as it always was); the Chinese reads its context.
    "greater_than": {"zh": "应大于 {gt}"},
    "greater_than_equal": {"zh": "应大于或等于 {ge}"},
    "less_than": {"zh": "应小于 {lt}"},
    "less_than_equal": {"zh": "应小于或等于 {le}"},
    "multiple_of": {"zh": "应为 {multiple_of} 的倍数"},
    "too_short": {"zh": "至少需要 {min_length} 项"},
    "too_long": {"zh": "最多 {max_length} 项"},
    "string_too_short": {"zh": "至少需要 {min_length} 个字符"},
    "string_too_long": {"zh": "最多 {max_length} 个字符"},
    "string_pattern_mismatch": {"zh": "格式不符：{pattern_zh}"},
    "datetime_type": {"zh": "应为日期时间，例如 2026-05-01T00:00:00+08:00"},
    "datetime_parsing": {"zh": "应为日期时间，例如 2026-05-01T00:00:00+08:00"},
    "datetime_from_date_parsing": {"zh": "应为日期时间，例如 2026-05-01T00:00:00+08:00"},
    "datetime_object_invalid": {"zh": "不是有效的日期时间"},
    "date_type": {"zh": "应为日期，例如 2026-05-01"},
    "date_parsing": {"zh": "应为日期，例如 2026-05-01"},
    "date_from_datetime_parsing": {"zh": "应为日期，例如 2026-05-01"},
    "time_delta_type": {"zh": "应为时长，例如 '12h'、'7d' 或 '2w'"},
    "time_delta_parsing": {"zh": "应为时长，例如 '12h'、'7d' 或 '2w'"},
    "none_required": {"zh": "此处不应有值"},
    "enum": {"zh": "应为 {expected} 之一"},
    "union_tag_invalid": {"zh": "标记 {tag} 无效，应为 {expected_tags} 之一"},
    "union_tag_not_found": {"zh": "缺少用于区分类型的键 {discriminator}"},
    "dict_keys": {"zh": "映射的键无效"},
    "frozen_set_type": {"zh": "应为列表"},
    "iterable_type": {"zh": "应为列表"},
    "is_instance_of": {"zh": "类型不符"},
    "missing_argument": {"zh": "缺少必填的值"},
    "value_error": {"zh": "取值无效"},
}

#: Descriptions of the text patterns the DSL's names follow (pydantic's message shows the expression).
PATTERNS_ZH: Final[dict[str, str]] = {
    r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$": "不能含控制字符，首尾不能有空格",
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$": "编号只能含字母、数字、'_'、'.'、'-'，且以字母或数字开头",
    r"^[a-z][a-z0-9_]*$": "事件类型只能含小写字母、数字和 '_'，且以字母开头",
    r"^(?:[a-z][a-z0-9_]*|period\.(?:day|week|month|quarter|year))$":
        "事件类型只能含小写字母、数字和 '_' 且以字母开头，或为 period.day/week/month/quarter/year",
    r"^\d{1,3}%$": "百分比写作 1 到 3 位数字加 '%'，例如 '50%'",
}

#: DSL terms that Chinese text names in Chinese (``!t``): scopes, teams, windows, limit kinds, YAML kinds.
TERMS_ZH: Final[dict[str, str]] = {
    "subject": "个人", "household": "家庭", "building": "楼栋", "grid": "网格", "community": "社区",
    "day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年",
    "cap": "上限", "diminishing": "递减", "share": "份额", "budget": "预算",
    "timestamp": "日期时间", "int": "整数", "float": "数", "bool": "true/false", "str": "文本", "binary": "二进制数据",
    "nothing": "空文档", "list": "列表", "dict": "映射", "float64": "数",
}

#: The YAML parser's problem texts (libyaml's and PyYAML's), in Chinese; a problem matched by none reads as
#: "the parser could not read this place".
YAML_PROBLEMS: Final[tuple[tuple[str, str], ...]] = (
    (r"mapping values are not allowed (?:here|in this context)",
     "此处不能出现映射的值（常见原因：缺少空格、冒号位置不对或缩进不一致）"),
    (r"block sequence entries are not allowed (?:here|in this context)|sequence entries are not allowed here",
     "此处不能出现列表项（'-'），请检查缩进"),
    (r"mapping keys are not allowed (?:here|in this context)", "此处不能出现映射的键"),
    (r"could not find expected ':'", "找不到应有的 ':'"),
    (r"did not find expected key|expected <block end>, but found .*", "找不到应有的键：请检查缩进是否一致"),
    (r"did not find expected node content|expected the node content, but found .*", "此处缺少值"),
    (r"did not find expected '-' indicator", "找不到应有的 '-'：请检查列表的缩进"),
    (r"did not find expected ',' or '\]'|expected ',' or '\]', but got .*", "找不到应有的 ',' 或 ']'"),
    (r"did not find expected ',' or '\}'|expected ',' or '\}', but got .*", "找不到应有的 ',' 或 '}'"),
    (r"found character (?:'.*' )?that cannot start any token", "此处的字符不能作为开头（制表符请换成空格）"),
    (r"found a tab character (?:that violates indentation|where an indentation space is expected)",
     "缩进中有制表符，请换成空格"),
    (r"found unexpected end of stream", "文本意外结束：引号或括号没有闭合"),
    (r"found unexpected ':'", "出现了意外的 ':'"),
    (r"found unexpected document indicator", "出现了意外的文档分隔符（'---' 或 '...'）"),
    (r"found unknown escape character.*", "未知的转义字符"),
    (r"found invalid Unicode character escape code|expected escape sequence of .*", "无效的 Unicode 转义"),
    (r"found undefined tag handle.*", "未定义的标签前缀"),
    (r"found undefined alias.*", "未定义的别名"),
    (r"found duplicate anchor.*", "锚点重复"),
    (r"did not find expected alphabetic or numeric character|expected alphabetic or numeric character, but found .*",
     "此处需要字母或数字（锚点、别名或标签名）"),
    (r"did not find expected comment or line break|expected a comment or a line break, but found .*",
     "此处只能是注释或换行"),
    (r"did not find expected whitespace or line break|expected ' ', but found .*", "此处需要空格或换行"),
    (r"but found another document|expected a single document in the stream|expected DOCUMENT-END|"
     r"expected '<document start>', but found .*|did not find expected <document start>",
     "一个规则集只能是一个 YAML 文档"),
    (r"found an indentation indicator equal to 0|expected indentation indicator in the range 1-9, but found 0",
     "块文本的缩进指示符不能为 0"),
    (r"invalid indentation or unclosed '\[' or '\{'", "缩进有误，或 '[' / '{' 没有闭合"),
    (r"control characters are not allowed|special characters are not allowed|unacceptable character .*|"
     r"invalid Unicode character", "文本含有不允许的控制字符"),
    (r"found unknown directive name|did not find expected directive name|found duplicate %YAML directive|"
     r"found duplicate %TAG directive|found incompatible YAML document.*|did not find expected version number|"
     r"found extremely long version number|did not find expected digit or '\.' character",
     "YAML 指令（%YAML、%TAG）有误"),
    (r"did not find expected tag URI|did not find the expected '>'|did not find expected '!'|"
     r"did not find URI escaped octet|expected URI.*|expected '!', but found .*|expected '>', but found .*",
     "YAML 标签写法有误"),
    (r"found an incorrect (?:leading|trailing) UTF-8 octet|incomplete UTF-8 octet sequence|"
     r"invalid (?:leading|trailing) UTF-8 octet|invalid length of a UTF-8 sequence", "文本不是有效的 UTF-8"),
    (r"input is too long", "输入太长"),
    (r"exceeded maximum nesting depth", "嵌套太深"),
)

_YAML_FALLBACK_ZH: Final = "解析器无法读取此处的内容"


def yaml_problem(problem: str) -> str:
    """The Chinese for a YAML parser's problem text."""
    for pattern, zh in YAML_PROBLEMS:
        if re.fullmatch(pattern, problem.strip()):
            return zh
    return _YAML_FALLBACK_ZH


def pydantic_zh(kind: str, ctx: Mapping[str, Any]) -> str:
    """What a pydantic error of type ``kind`` says was expected, in Chinese, from its context."""
    entry = PYDANTIC.get(kind)
    if entry is None:
        return f"取值无效（{kind}）"
    args = dict(ctx)
    if "pattern" in args:
        args["pattern_zh"] = PATTERNS_ZH.get(str(args["pattern"]), f"应符合 {args['pattern']}")
    return _FORMAT.text(entry["zh"], "zh", args)


def pydantic_en(kind: str) -> str | None:
    """The English for a pydantic error type, where the project words it itself (else pydantic's message)."""
    return PYDANTIC.get(kind, {}).get("en")


class LangArgs(dict[str, Any]):
    """Template arguments in a language; a parameter a template names but the problem lacks shows as '?'."""

    def __init__(self, params: Mapping[str, Any], lang: Lang) -> None:
        super().__init__(params)
        self.lang = lang

    def __missing__(self, key: str) -> str:
        return "?"


class LangFormatter(string.Formatter):
    """:meth:`str.format` that knows the language of the text it formats (``self.lang``, from the
    :class:`LangArgs`), for subclasses whose conversions word values per language."""

    lang: Lang = "en"

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.lang = kwargs.lang if isinstance(kwargs, LangArgs) else "en"
        return super().vformat(format_string, args, kwargs)

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        return kwargs[key] if isinstance(key, str) else args[key]

    def text(self, template: str, lang: Lang, params: Mapping[str, Any]) -> str:
        """``template`` in ``lang`` with ``params``."""
        return self.vformat(template, (), LangArgs(params, lang))


class _Formatter(LangFormatter):
    """:meth:`str.format` with ``!t`` (a DSL term in the text's language), ``!&`` (a list joined with "and")
    and lists joined with commas."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "t":
            return TERMS_ZH.get(str(value), str(value)) if self.lang == "zh" else str(value)
        if conversion == "&":
            items = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
            return (" 和 " if self.lang == "zh" else " and ").join(items)
        if conversion is None and isinstance(value, list | tuple):
            return ("、" if self.lang == "zh" else ", ").join(str(v) for v in value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        if format_spec and not isinstance(value, int | float):  # '?' for a missing number
            return str(value)
        return super().format_field(value, format_spec)


_FORMAT: Final = _Formatter()


def render(code: str, lang: Lang, params: Mapping[str, Any]) -> str:
    """The message ``code`` in ``lang`` with ``params``. An unknown code (from a newer library, read back
    from a stored problem) shows itself with its parameters, as :func:`gridpoints.model` explanations do."""
    entry = MESSAGES.get(code)
    if entry is None:
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{code}({shown})"
    return _FORMAT.text(entry[lang], lang, params)


def placeholders(template: str) -> set[str]:
    """The parameter names a template reads (for tests that every code's languages agree)."""
    return {name for _, name, _, _ in _FORMAT.parse(template) if name}


def make_issue(path: str, code: str, params: Mapping[str, Any], *, source: str | None = None,
               line: int | None = None, column: int | None = None, suggestion: str | None = None) -> Issue:
    """An :class:`~gridpoints.errors.Issue` for message ``code``: its English, its Chinese, its parameters."""
    return Issue(path=path, message=render(code, "en", params), source=source, line=line, column=column,
                 suggestion=suggestion, code=code, params=dict(params), zh=render(code, "zh", params))
