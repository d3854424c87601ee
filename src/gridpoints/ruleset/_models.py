"""The ruleset DSL as frozen pydantic models. These models are the schema: docs and JSON Schema derive from them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    StrictFloat,
    StrictInt,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gridpoints.calendar import EARLIEST_YEAR, LATEST_YEAR, MAX_DURATION, MAX_MONTHS, MAX_PERIODS
from gridpoints.model import INT64_MAX, INT64_MIN
from gridpoints.ruleset._messages import render


def _invalid(code: str, **params: Any) -> PydanticCustomError:
    """A model check's refusal as message ``code`` of the diagnostics catalogue, its parameters as the error's
    context (the loader renders it in either language; its English is pydantic's message)."""
    return PydanticCustomError(code, render(code, "en", params), params)

# ---------------------------------------------------------------------------------------------------------
# Bounded value types. Every number a ruleset holds uses one of these, so that the loader, the JSON Schema
# (which derives from these models) and every store agree on its range: integers fit signed 64-bit (the
# stores' BIGINT), floats are finite (no .nan, no .inf). A new key takes the alias that fits; give a
# narrower range with its own alias (as ``Months``), not with ``Field(ge=…)`` on the field — pydantic lets
# the alias's bounds replace a field's own ``ge``/``le``. tests/test_hostile_input.py checks every integer
# and number in the schema is bounded.
# ---------------------------------------------------------------------------------------------------------

def _integral(value: Any) -> Any:
    """``50.0`` is the integer 50, as in JSON Schema (where 50.0 is an integer): the schema and the loader
    agree. ``50.5``, ``true`` and ``"50"`` stay refused."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


#: Any integer a store can hold: points (negative = deduction), floors.
Int64 = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX), BeforeValidator(_integral)]
#: A count or amount that cannot be negative: limits, stock, thresholds.
Count = Annotated[StrictInt, Field(ge=0, le=INT64_MAX), BeforeValidator(_integral)]
#: A count or amount of at least 1: versions, slots, costs, top-N.
Positive = Annotated[StrictInt, Field(ge=1, le=INT64_MAX), BeforeValidator(_integral)]
#: A look-back in calendar months (1 … 1200, a century).
Months = Annotated[StrictInt, Field(ge=1, le=MAX_MONTHS), BeforeValidator(_integral)]
#: A look-back in periods (1 … 1000).
Periods = Annotated[StrictInt, Field(ge=1, le=MAX_PERIODS), BeforeValidator(_integral)]
#: Any finite number (an integer reads as one).
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
#: A finite number above 0.
PositiveNumber = Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
#: A finite number not below 0.
NonNegativeNumber = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
#: A fraction in [0, 1].
Fraction01 = Annotated[StrictFloat, Field(ge=0, le=1, allow_inf_nan=False)]


#: A key or id in free text (category ids, attribute names): 1–64 characters, no control characters, no
#: leading or trailing space.
Key = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$",
          description="1–64 characters without control characters or surrounding spaces."),
]

Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
          description="An id: letters, digits, '_', '.', '-'; starts with a letter or digit."),
]
EventTypeName = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
          description="An event type: lower-case letters, digits and '_', starting with a letter."),
]
Window = Literal["day", "week", "month", "quarter", "year"]
Scope = Literal["subject", "household", "grid", "community"]

DEFAULT_CATEGORIES: dict[str, str] = {
    "base": "基础分",
    "reward": "奖励分",
    "deduction": "扣分",
    "bonus": "挑战赛加分",
    "performance": "网格员绩效分",
}


#: Categories that do not count for leaderboards and challenges unless the ruleset says they do: base points
#: are for being registered, not for taking part; adjustments are staff corrections.
UNRANKED_CATEGORIES: frozenset[str] = frozenset({"base", "adjustment"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CategorySpec(_Model):
    """A category with more than a display name."""

    name: str = Field(description="Display name, e.g. 奖励分.")
    counts_for_ranking: bool | None = Field(
        None, description="Whether points of this category count for leaderboards and challenges; absent: "
                          "every category except 'base' and 'adjustment' counts."
    )


class AttributeSpec(_Model):
    """The expected shape of one event attribute; checked on every submitted event."""

    type: Literal["string", "number", "integer", "boolean"] = Field(description="The attribute's JSON type.")
    enum: list[str | Int64] | None = Field(None, description="The only values allowed.")
    min: Number | None = Field(None, description="Smallest allowed number (inclusive).")
    max: Number | None = Field(None, description="Largest allowed number (inclusive).")
    required: bool = Field(False, description="Whether every event of this type must carry it.")
    description: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AttributeSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _invalid("attribute.min_above_max", min=self.min, max=self.max)
        return self


class EventTypeSpec(_Model):
    """An event type the host sends: its attributes, or ``ignore: true`` to accept and drop it."""

    ignore: bool = Field(False, description="Accept events of this type without awarding anything.")
    attributes: dict[Key, AttributeSpec] = Field(default_factory=dict)
    legitimate: list[str] | None = Field(
        None, description="Attributes that are fair grounds for different points in every rule on this type "
                          "(besides each rule's points measure); the fairness kit flags any other attribute a "
                          "rule's points depend on."
    )
    description: str | None = None


class PerUnitPoints(_Model):
    """``each`` points per unit of a numeric attribute (e.g. 10 per hour of patrol), at most ``max_units``."""

    per: str = Field(description="The numeric attribute counting units, e.g. 'hours'.")
    each: Int64 = Field(description="Points per unit; fractional units round toward zero.")
    max_units: PositiveNumber | None = Field(None, description="Units beyond this earn nothing.")


class TablePoints(_Model):
    """Points looked up by an attribute's value (e.g. sorting quality A/B/C → 20/10/5)."""

    by: str = Field(description="The attribute whose value selects the row.")
    table: dict[str, Int64] = Field(min_length=1, description="Value → points.")
    default: Int64 | None = Field(None, description="Points for a value not in the table; absent means error.")

    @field_validator("table", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads `1: 5` with an integer key; attribute values are matched by their text form.
        if isinstance(value, dict):
            return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()}
        return value


class RangePoints(_Model):
    """A numeric attribute's value taken as points, clamped into ``[lo, hi]`` (e.g. a hazard report 15–20)."""

    range: tuple[Int64, Int64] = Field(description="[lo, hi], inclusive.")
    from_: str = Field(alias="from", description="The numeric attribute holding the points.")

    @model_validator(mode="after")
    def _ordered(self) -> RangePoints:
        if self.range[0] > self.range[1]:
            raise _invalid("points.range_order", range=list(self.range))
        return self


def _points_form(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (type(value) is float and value.is_integer()):
        return "fixed"
    if isinstance(value, dict):
        for key, tag in (("per", "per-unit"), ("by", "by-table"), ("table", "by-table"), ("range", "range")):
            if key in value:
                return tag
    if isinstance(value, PerUnitPoints):
        return "per-unit"
    if isinstance(value, TablePoints):
        return "by-table"
    if isinstance(value, RangePoints):
        return "range"
    return None


Points = Annotated[
    Annotated[Int64, Tag("fixed")]
    | Annotated[PerUnitPoints, Tag("per-unit")]
    | Annotated[TablePoints, Tag("by-table")]
    | Annotated[RangePoints, Tag("range")],
    Discriminator(
        _points_form,
        custom_error_type="points_form",
        custom_error_message="expected an integer or a mapping with 'per', 'by' or 'range'",
    ),
]


#: At most 5 digits of hours, 4 of days, 3 of weeks: every duration stays within MAX_DURATION (9,999 days),
#: and the JSON Schema states the same bound with the same pattern.
_DURATION = r"^\s*(?:(\d{1,5})\s*h|(\d{1,4})\s*d|(\d{1,3})\s*w)\s*$"


def _parse_duration(value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(_DURATION, value)
        if match is None:
            raise _invalid("duration.form", value=value[:40])
        hours, days, weeks = match.groups()
        if hours is not None:
            return timedelta(hours=int(hours))
        return timedelta(days=int(days)) if days is not None else timedelta(weeks=int(weeks))
    if isinstance(value, timedelta) and not timedelta(0) <= value <= MAX_DURATION:
        raise _invalid("duration.range", max_days=MAX_DURATION.days, value=str(value))
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_parse_duration),
    PlainSerializer(lambda d: f"{int(d.total_seconds() // 3600)}h", return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION, "examples": ["12h", "7d", "2w"]}),
]


def _zoned(value: datetime) -> datetime:
    """A date-time with a UTC offset, in the years an event may carry (1900 to 8999)."""
    if value.utcoffset() is None:
        raise _invalid("datetime.no_offset", value=value.isoformat())
    if not EARLIEST_YEAR <= value.year < LATEST_YEAR:
        raise _invalid("datetime.year_range", earliest=EARLIEST_YEAR, latest=LATEST_YEAR - 1, value=value.isoformat())
    return value


ZonedDateTime = Annotated[
    datetime,
    AfterValidator(_zoned),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "A date-time with its UTC offset, e.g. 2026-06-01T00:00:00+08:00."}),
]


class _Validity(_Model):
    """``valid_from`` / ``valid_until``: when something is in force (from inclusive, until exclusive)."""

    valid_from: ZonedDateTime | None = Field(None, description="In force from this moment (inclusive).")
    valid_until: ZonedDateTime | None = Field(None, description="In force until this moment (exclusive).")

    @model_validator(mode="after")
    def _ordered_window(self) -> _Validity:
        if self.valid_from is not None and self.valid_until is not None and self.valid_until <= self.valid_from:
            raise _invalid("validity.order", until=self.valid_until.isoformat(), since=self.valid_from.isoformat())
        return self


class VerifySpec(_Model):
    """The award waits in a pending account until a verifier confirms it (反馈问题并验证后获积分)."""

    by: list[str] = Field(min_length=1, description="Roles allowed to verify, e.g. [grid_worker].")
    not_beneficiary: bool = Field(
        True, description="The verifier may not be the beneficiary nor live in the beneficiary's household."
    )
    within: Duration = Field(description="Deadline from the event; unverified awards expire after it.")


class AppealSpec(_Model):
    """A deduction may be appealed within a window; an upheld appeal reverses it with a linked entry."""

    within: Duration = Field(description="How long after the deduction the resident may lodge an appeal (staff "
                                         "decide a lodged one later) or, if none was lodged, staff may decide one.")
    by: list[str] | None = Field(None, description="Roles allowed to decide appeals (any registered actor if absent).")


class WorkerCreditSpec(_Model):
    """Performance points for the grid worker who verifies a report from their own grid within ``within``;
    with ``for: resolved``, only when the verification records the problem resolved (``resolved: true``:
    网格员解决问题获绩效积分).

    The credit is an award to the worker like any other: the limits that select its category (or all
    awards) bind it, counted in the worker's own scopes."""

    points: Positive = Field(description="Points credited to the worker.")
    within: Duration = Field(description="The report must be verified (or resolved) this soon after it was made.")
    for_: Literal["verified", "resolved"] = Field(
        "verified", alias="for",
        description="verified: paid for a timely verification; resolved: only for one that says resolved: true.",
    )
    category: Key = Field("performance", description="Category of the worker's award.")
    only_if_granted: bool = Field(
        False, description="Pay the credit only when the verified award itself grants points (> 0 after the "
                           "resident's limits): no credit for a report a cap or budget cut to nothing."
    )


def worker_credit_id(rule_id: str) -> str:
    """``<rule id>:worker-credit``: the rule id a grid worker's performance credit for a rule is posted under."""
    return f"{rule_id}:worker-credit"


class RepairVerifySpec(_Model):
    """Each task event must be attested by a verifier (its ``actor``): evidence, not self-reported hours."""

    by: list[str] = Field(min_length=1, description="Roles allowed to attest a repair task, e.g. [grid_worker].")
    not_beneficiary: bool = Field(
        True, description="The verifier may not live in the violator's household (never the violator)."
    )


class RepairSpec(_Model):
    """积分修复: a task that restores (part of) a deduction when completed in time."""

    id: Identifier
    name: str | None = None
    task: list[EventTypeName] = Field(min_length=1, description="Event types that count as the repair task.")
    per: str | None = Field(None, description="Numeric task attribute summed toward ``quantity`` (else: count events).")
    quantity: PositiveNumber = Field(1, description="How much task is needed, e.g. 2 (hours).")
    within: Duration = Field(description="Deadline from the deduction.")
    restore: Count | Annotated[str, Field(pattern=r"^\d{1,3}%$")] = Field(
        "100%", description="Points restored: a percentage of the deduction ('100%') or a number (not negative), "
                            "never more than the deduction."
    )
    max_per_year: Count | None = Field(None, description="Repairs a subject may open per calendar year.")
    cooldown: Duration | None = Field(None, description="Least time between two repairs' openings.")
    counts_for_ranking: bool = Field(False, description="Whether restored points count as earned in rankings.")
    verify: RepairVerifySpec | None = Field(
        None, description="Task events count only when attested by a verifier of these roles (the event's actor)."
    )
    required: bool = Field(
        False, description="需完成: while the repair is open the violator cannot redeem in the points mall."
    )
    description: str | None = None


class RuleSpec(_Validity):
    """One way to earn or lose points: an event type, an optional condition, and the points; outside
    ``valid_from`` / ``valid_until`` the rule does not match."""

    id: Identifier
    name: str | None = Field(None, description="Display name; Chinese is normal.")
    on: Annotated[str, Field(pattern=r"^(?:[a-z][a-z0-9_]*|period\.(?:day|week|month|quarter|year))$",
                             max_length=64)] = Field(
        description="The event type this rule handles (lower-case letters, digits, '_'), or period.day / "
                    "period.week / period.month / period.quarter / period.year for an award at each period close."
    )
    when: dict[str, Any] | None = Field(None, description="Condition on the event's attributes (see conditions).")
    points: Points = Field(description="Fixed integer (negative = deduction), per-unit, by-table or range.")
    category: Key | None = Field(
        None, description="Category id; defaults to 'reward' for positive points, 'deduction' for negative."
    )
    verify: VerifySpec | None = Field(None, description="Hold the award pending until verified.")
    appeal: AppealSpec | None = Field(None, description="Allow the deduction to be appealed.")
    repair: str | None = Field(None, description="Id of the repair (积分修复) that can restore this deduction.")
    credit_worker: WorkerCreditSpec | None = Field(
        None, description="Grid-worker performance: credit the verifying worker when verified in time."
    )
    counts_for_ranking: bool | None = Field(
        None, description="Whether this rule's points count for leaderboards and challenges; absent: as its "
                          "category says."
    )
    legitimate: list[str] | None = Field(
        None, description="Attributes that are fair grounds for this rule's points besides its points measure "
                          "(and its event type's 'legitimate'); see the fairness kit's attribute_blind property."
    )
    description: str | None = None


class _Selective(_Validity):
    """Fields every limit shares: its id, which awards it applies to (all positive awards if neither filter),
    and when it is in force (``valid_from`` / ``valid_until``: an award of an event outside it is not limited)."""

    id: Identifier
    categories: list[Key] | None = Field(None, description="Apply to awards in these categories.")
    rules: list[str] | None = Field(None, description="Apply to awards from these rules.")
    continues: Identifier | None = Field(
        None, description="The id of an earlier version's limit whose counters this one carries on (a renamed "
                          "limit keeps its counts mid-window instead of starting from 0)."
    )
    description: str | None = None


class CapSpec(_Selective):
    """At most ``limit`` points per ``scope`` per calendar ``window`` from the selected rules or categories."""

    kind: Literal["cap"] = "cap"
    scope: Scope = Field("subject", description="Whose points are pooled under the cap.")
    window: Window = Field(description="Calendar window in the ruleset's time zone.")
    limit: Count = Field(description="Most points in one window.")
    mode: Literal["truncate", "reject"] = Field(
        "truncate", description="truncate: award what fits; reject: award nothing if the whole does not fit."
    )


class DiminishingSpec(_Selective):
    """The nth selected award in a window earns ``factors[n-1]`` of its points (the last factor repeats)."""

    kind: Literal["diminishing"]
    scope: Literal["subject", "household"] = Field("subject", description="Whose occurrences are counted.")
    window: Window = Field(description="Calendar window in the ruleset's time zone.")
    factors: list[Fraction01] = Field(
        min_length=1, description="Factor for the 1st, 2nd, … occurrence; points round toward zero."
    )


class ShareSpec(_Selective):
    """积分垄断 guard: once the points issued in its pool reach ``min_total``, a member holding more than
    ``max_share`` of them gets nothing more from the selected awards until the others catch up; a member at
    or below the share is awarded in full."""

    kind: Literal["share"]
    scope: Literal["grid", "community"] = Field(description="The pool whose issued points are shared.")
    member: Literal["subject", "household"] = Field("subject", description="Who may not exceed the share.")
    window: Window = Field(description="Calendar window in the ruleset's time zone.")
    max_share: Annotated[StrictFloat, Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        description="Above this fraction of the pool a member gets no more."
    )
    min_total: Count = Field(0, description="The share applies once the pool's total reaches this.")


class BudgetSpec(_Selective):
    """A community's (or grid's) points budget per window; when spent, awards are refused or truncated."""

    kind: Literal["budget"]
    scope: Literal["community", "grid"] = Field("community", description="Whose budget it is.")
    window: Window = Field("month", description="Calendar window the budget renews in.")
    limit: Count = Field(description="Points the budget holds per window.")
    on_exhausted: Literal["reject", "truncate"] = Field(
        "reject", description="reject: an award that does not fit gets nothing; truncate: it gets what is left."
    )


def _limit_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", "cap")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


LimitSpec = Annotated[
    Annotated[CapSpec, Tag("cap")]
    | Annotated[DiminishingSpec, Tag("diminishing")]
    | Annotated[ShareSpec, Tag("share")]
    | Annotated[BudgetSpec, Tag("budget")],
    Discriminator(
        _limit_kind,
        custom_error_type="limit_kind",
        custom_error_message="expected kind: cap, diminishing, share or budget",
    ),
]


class Rotation(_Model):
    """At most ``max_wins`` wins in the last ``in_periods`` periods (the current one included)."""

    max_wins: Positive
    in_periods: Periods


class ChallengeSpec(_Model):
    """A period challenge (积分挑战赛): the top earners of each window get a bonus and a title."""

    id: Identifier
    name: str | None = None
    window: Window = Field("month", description="Ranking window; awarded at that window's close.")
    scope: Literal["community", "grid"] = Field("community", description="Rank within the community or each grid.")
    top: Positive = Field(description="How many win.")
    bonus: Count = Field(description="Points each winner gets.")
    title: str | None = Field(None, description="Title given to winners, e.g. 积分达人.")
    category: Key = Field("bonus", description="Category of the bonus award.")
    rotation: Rotation | None = None
    min_earned: Count = Field(1, description="Least earned points to be ranked at all.")
    team: Literal["subject", "household", "building", "grid"] = Field(
        "subject", description="Who competes: residents, or teams — households, buildings (the registry's "
                               "building) or grids — ranked by their members' points together.")
    split: Literal["each", "equal", "proportional"] = Field(
        "each", description="How a winning team is paid: each member gets the bonus; the bonus is shared "
                            "equally; or in proportion to what each member earned (largest remainders).")

    @model_validator(mode="after")
    def _team_scope(self) -> ChallengeSpec:
        if self.team == "grid" and self.scope == "grid":
            raise _invalid("challenge.grid_scope")
        return self


class AllocateSpec(_Model):
    """Scarce items are not first-come: at the window's close the slots go to the top-ranked applicants."""

    slots: Positive
    window: Window = "month"
    rank_by: Literal["earned"] = Field("earned", description="Points earned in the window (not balance).")
    rotation: Rotation | None = None


class ItemLimit(_Model):
    per_subject: Positive = Field(description="Redemptions one subject may make per window.")
    window: Window = "year"


class EarnedBound(_Model):
    """Points the subject earned in the current ``window`` (of the redemption's time), bounded."""

    window: Window = Field("month", description="Calendar window the earned points are counted in.")
    min: Count | None = Field(None, description="At least this many earned points.")
    max: Count | None = Field(None, description="At most this many earned points (精准服务 for the low-point).")

    @model_validator(mode="after")
    def _bounded(self) -> EarnedBound:
        if self.min is None and self.max is None:
            raise _invalid("earned.no_bound")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _invalid("earned.order", min=self.min, max=self.max)
        return self


class Eligibility(_Model):
    """Who may redeem: registry conditions (grid, tags, age band, role) at the redemption's time and the
    subject's own figures (balance, tier, points earned this window). Every condition given must hold."""

    min_balance: Count | None = Field(None, description="Spendable balance at least this.")
    max_balance: Count | None = Field(None, description="Spendable balance at most this.")
    tiers: list[str] | None = Field(None, description="Tiers allowed to redeem.")
    roles: list[str] | None = Field(None, description="Roles allowed to redeem (from the registry).")
    grids: list[str] | None = Field(None, min_length=1, description="Grids whose members may redeem.")
    tags: list[str] | None = Field(
        None, min_length=1, description="Registry tags of which the subject must hold at least one (e.g. elderly)."
    )
    age_bands: list[str] | None = Field(
        None, min_length=1, description="Age bands (the registry's label, e.g. '65+') allowed to redeem."
    )
    earned: EarnedBound | None = Field(None, description="Points earned in the current window, bounded.")

    @model_validator(mode="after")
    def _balance_range(self) -> Eligibility:
        if self.min_balance is not None and self.max_balance is not None and self.min_balance > self.max_balance:
            raise _invalid("balance.order", min=self.min_balance, max=self.max_balance)
        return self


class ItemSpec(_Validity):
    """An item in the points mall (积分商城); it can be redeemed only between ``valid_from`` and
    ``valid_until`` (``available_from`` / ``available_until`` are older names for the same)."""

    id: Identifier
    name: str | None = None
    cost: Count = Field(
        description="Points spent. 0 makes the item an entitlement (a free benefit such as a school "
                    "recommendation): it needs a 'stock' or a per-subject 'limit', and no hold or allocate."
    )
    stock: Count | None = Field(None, description="Units available in all; absent means unlimited.")
    value: NonNegativeNumber | None = Field(None, description="Money value of one unit, for liability reports.")
    eligibility: Eligibility | None = None
    limit: ItemLimit | None = None
    available_from: ZonedDateTime | None = Field(None, description="Older name of valid_from.")
    available_until: ZonedDateTime | None = Field(None, description="Older name of valid_until.")
    hold: Duration | None = Field(
        None, description="Two-phase: points are held at request and must be fulfilled within this, else returned."
    )
    allocate: AllocateSpec | None = None

    @model_validator(mode="after")
    def _one_name_each(self) -> ItemSpec:
        if self.available_from is not None and self.valid_from is not None:
            raise _invalid("item.both_from")
        if self.available_until is not None and self.valid_until is not None:
            raise _invalid("item.both_until")
        return self

    @property
    def opens(self) -> datetime | None:
        return self.valid_from if self.valid_from is not None else self.available_from

    @property
    def closes(self) -> datetime | None:
        return self.valid_until if self.valid_until is not None else self.available_until


class CampaignSpec(_Model):
    """A named campaign (安全宣传周双倍积分): over a window, the positive points of the selected rules are
    multiplied and/or get a bonus. Of the campaigns in force for one award, the one giving the most points
    wins (a tie goes to the one listed first); campaigns never stack."""

    id: Identifier
    name: str | None = Field(None, description="Display name, shown in explanations.")
    rules: list[str] | None = Field(None, description="Rules whose awards it raises.")
    categories: list[Key] | None = Field(None, description="Categories whose awards it raises (all if neither).")
    valid_from: ZonedDateTime = Field(description="Campaign starts (inclusive).")
    valid_until: ZonedDateTime = Field(description="Campaign ends (exclusive).")
    when: dict[str, Any] | None = Field(
        None, description="Further condition, e.g. {event.weekday: {in: [6, 7]}} or {event.hour: {gte: 18}}."
    )
    multiplier: Annotated[StrictFloat, Field(ge=1, le=100, allow_inf_nan=False)] = Field(
        1, description="Base points × this, rounded toward zero."
    )
    bonus: Count = Field(0, description="Points added to each raised award.")
    description: str | None = None

    @model_validator(mode="after")
    def _does_something(self) -> CampaignSpec:
        if self.valid_until <= self.valid_from:
            raise _invalid("validity.order", until=self.valid_until.isoformat(), since=self.valid_from.isoformat())
        if self.multiplier == 1 and self.bonus == 0:
            raise _invalid("campaign.no_raise")
        return self


class StreakSpec(_Model):
    """A streak (连续打卡): a bonus for an event of a listed type on ``length`` consecutive days or weeks;
    a day (or week) without one breaks the run."""

    id: Identifier
    name: str | None = Field(None, description="Display name, e.g. 连续30天垃圾分类.")
    on: list[EventTypeName] = Field(min_length=1, description="Event types that count toward the streak.")
    when: dict[str, Any] | None = Field(None, description="Condition an event must meet to count.")
    period: Literal["day", "week"] = Field("day", description="Consecutive local days, or ISO weeks.")
    length: StrictInt = Field(ge=2, le=366, description="Periods in a row needed.")
    bonus: Count = Field(0, description="Points paid when the run reaches the length.")
    repeat: bool = Field(False, description="Pay again at every further multiple of the length in one run.")
    category: Key = Field("bonus", description="Category of the bonus.")
    description: str | None = None


class MilestoneSpec(_Model):
    """A cumulative metric reaching a threshold: ``at`` earned points, earning events or units of the rules."""

    rules: list[str] = Field(min_length=1, description="Rules whose earnings count.")
    metric: Literal["events", "points", "units"] = Field(
        "events", description="events: earning events (verified ones, for a rule with verify); points: earned "
                              "points; units: units of a per-unit rule that earned (e.g. hours).")
    at: Positive = Field(description="The threshold, e.g. 100 (hours).")


class HonourSpec(_Model):
    """An honour (荣誉): a title for a challenge's winners, a badge for a completed streak, or a milestone."""

    id: Identifier
    name: str | None = Field(None, description="Display name, e.g. 积分达人 or 志愿服务百小时.")
    challenge: Identifier | None = Field(None, description="A challenge whose winners get it (at each win).")
    streak: Identifier | None = Field(None, description="A streak whose first completed run earns it.")
    milestone: MilestoneSpec | None = Field(None, description="A cumulative metric whose threshold earns it.")
    description: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> HonourSpec:
        given = [name for name in ("challenge", "streak", "milestone") if getattr(self, name) is not None]
        if len(given) != 1:
            raise _invalid("honour.one_source_not", given=given) if given else _invalid("honour.one_source")
        return self


NoticeKindName = Literal["points_awarded", "points_deducted", "repair_opened", "repair_due", "repair_expired",
                         "hold_expiring", "verification_due", "honour_earned"]


class NoticesSpec(_Model):
    """Which notices an engine with ``notify=True`` writes to the store's outbox, and how early reminders
    (repair due, hold expiring, verification due) go out."""

    kinds: list[NoticeKindName] | None = Field(None, min_length=1, description="Kinds written (all if absent).")
    remind_within: Duration = Field(
        default=timedelta(days=3), description="engine.remind(now) tells of deadlines up to this far ahead."
    )


class TierSpec(_Model):
    """社区信用 tier: earned points over the last ``months`` and open violations decide it."""

    id: Identifier
    name: str | None = None
    min_earned: Count = 0
    max_open_violations: Count | None = None


class AdjustmentCap(_Model):
    """Most points (credits and debits alike) one staff member may adjust per window."""

    limit: Positive = Field(description="Points per staff member per window.")
    window: Window = Field("month", description="Calendar window the cap renews in.")


class CorrectionsSpec(_Model):
    """Corrections (冲正) and staff adjustments (人工调整)."""

    roles: list[str] = Field(default_factory=lambda: ["staff"], min_length=1,
                             description="Roles allowed to correct events and adjust balances.")
    adjustments_earned: bool = Field(
        False, description="Whether adjustment credits count as earned (rankings, challenges, tiers).")
    adjustment_cap: AdjustmentCap | None = Field(None, description="A cap on adjustments per staff member.")


class RulesetSpec(_Model):
    """A community's points policy."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True,
        json_schema_extra={"title": "gridpoints ruleset"},
    )

    ruleset: Identifier = Field(description="The ruleset's id, stamped on every ledger entry with its version.")
    version: Positive = Field(description="Bump on every change that goes live; `gridpoints diff` says what "
                                          "an upgrade mid-window does (see docs/versions.md).")
    name: str = Field(description="Display name.")
    description: str | None = None
    timezone: str = Field("Asia/Shanghai", max_length=64, description="IANA zone that calendar windows are counted in.")
    community: Identifier | None = Field(None, description="Community id for community-scope limits.")
    categories: dict[Key, str | CategorySpec] = Field(
        default_factory=lambda: dict[str, str | CategorySpec](DEFAULT_CATEGORIES),
        description="Category id → display name, or {name, counts_for_ranking}.",
    )
    events: dict[EventTypeName, EventTypeSpec] = Field(
        default_factory=dict, description="Event types and their attributes; types only named by rules are inferred."
    )
    rules: list[RuleSpec] = Field(min_length=1)
    limits: list[LimitSpec] = Field(
        default_factory=list,
        description="Applied to each positive award: diminishing first, then the rest in the order listed.",
    )
    floor: Int64 | None = Field(
        None, description="Deductions never take a spendable balance below this (none if absent)."
    )
    repairs: list[RepairSpec] = Field(default_factory=list)
    catalog: list[ItemSpec] = Field(default_factory=list)
    challenges: list[ChallengeSpec] = Field(default_factory=list)
    campaigns: list[CampaignSpec] = Field(
        default_factory=list, description="Time-bounded multipliers and bonuses; the largest award wins."
    )
    streaks: list[StreakSpec] = Field(default_factory=list, description="Bonuses for consecutive days or weeks.")
    honours: list[HonourSpec] = Field(default_factory=list, description="Titles, badges and milestones.")
    tiers: list[TierSpec] = Field(default_factory=list, description="Lowest first; a subject gets the highest met.")
    tier_months: Months = Field(12, description="Months of earned points that tiers look back over.")
    expire_after: Months | None = Field(None, description="Months after which earned points expire, oldest first.")
    closed_periods: Literal["accept", "reject"] = Field(
        "accept", description="An event in a window already closed: accepted and flagged late, or refused."
    )
    corrections: CorrectionsSpec = Field(
        default_factory=CorrectionsSpec, description="Who may correct events and adjust balances, and how."
    )
    notices: NoticesSpec = Field(
        default_factory=NoticesSpec, description="The notices outbox: which kinds are written, when reminders go."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory of zones
            raise _invalid("timezone.unknown", zone=value[:64]) from None
        return value

    def rule_category(self, rule: RuleSpec) -> str:
        if rule.category is not None:
            return rule.category
        return "deduction" if _always_negative(rule.points) else "reward"

    def category_name(self, category: str) -> str:
        """The category's display name (its id if undeclared)."""
        declared = self.categories.get(category)
        if declared is None:
            return category
        return declared if isinstance(declared, str) else declared.name

    def category_counts_for_ranking(self, category: str) -> bool:
        declared = self.categories.get(category)
        if isinstance(declared, CategorySpec) and declared.counts_for_ranking is not None:
            return declared.counts_for_ranking
        return category not in UNRANKED_CATEGORIES

    def rule_counts_for_ranking(self, rule: RuleSpec) -> bool:
        """Whether the rule's points count for leaderboards and challenges: as the rule says, else its category."""
        if rule.counts_for_ranking is not None:
            return rule.counts_for_ranking
        return self.category_counts_for_ranking(self.rule_category(rule))

    def legitimate_grounds(self, rule: RuleSpec) -> frozenset[str]:
        """The attributes a rule's points may fairly depend on: its points measure (``per``, ``by`` or
        ``from``) and what the rule's and its event type's ``legitimate`` lists name."""
        points = rule.points
        found = set(rule.legitimate or ())
        declared = self.events.get(rule.on)
        if declared is not None:
            found.update(declared.legitimate or ())
        if isinstance(points, PerUnitPoints):
            found.add(points.per)
        elif isinstance(points, TablePoints):
            found.add(points.by)
        elif isinstance(points, RangePoints):
            found.add(points.from_)
        return frozenset(found)

    def category_names(self) -> dict[str, str]:
        """Category id → display name."""
        return {category: self.category_name(category) for category in self.categories}


def _always_negative(points: int | PerUnitPoints | TablePoints | RangePoints) -> bool:
    if isinstance(points, int):
        return points < 0
    if isinstance(points, PerUnitPoints):
        return points.each < 0
    if isinstance(points, TablePoints):
        return all(v < 0 for v in points.table.values())
    return points.range[1] < 0
