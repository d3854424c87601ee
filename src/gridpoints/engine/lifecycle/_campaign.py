"""Campaigns (安全宣传周双倍积分): over a window, a rule's positive base points × a multiplier, plus a bonus.

A campaign changes a matched rule's base before anything else sees it — pending verification, repairs and the
limits all work on the raised points, so a cap still caps a doubled award. Of the campaigns in force for an
award (window, the rules or categories they select, their ``when:``), the one giving the most points wins; a
tie goes to the campaign listed first; campaigns never stack. Deductions and zero points are never raised,
and scheduled rules (``on: period.*``) are not either. The trace keeps the plain points and names the
campaign (base arguments ``campaign``, ``campaign_name``, ``multiplier``, ``bonus``, ``plain``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridpoints.engine._kernel import Context, Mechanism
from gridpoints.model import Event
from gridpoints.policy import CompiledRule, Policy


def _raise(context: Context, rule: CompiledRule, event: Event, base: int, code: str, args: Mapping[str, Any],
           fields: Mapping[str, Any]) -> tuple[int, str, Mapping[str, Any]]:
    if base <= 0:
        return base, code, args
    campaign = context.policy.best_campaign(rule, base, event.attributes, fields, event.occurred_at)
    if campaign is None:
        return base, code, args
    raised = campaign.raised(base)
    return raised, code, {**args, "campaign": campaign.id, "campaign_name": campaign.name,
                          "multiplier": format(campaign.multiplier.normalize(), "f"), "bonus": campaign.bonus,
                          "plain": base}


def _selected(policy: Policy, rule: CompiledRule) -> bool:
    # The kernel asks once per rule when it is built: rules no campaign selects pay nothing per event.
    return rule.id in policy.campaigns_by_rule and not rule.on.startswith("period.")


MECHANISM = Mechanism("campaign", bases=((_selected, _raise),))
