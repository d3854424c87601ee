"""Figures above the ledger: concentration (Gini, top shares, Lorenz), grid heat, anomalies and the
proactive-service list."""

from gridpoints.analytics._concentration import (
    ACTIVITY_REASONS,
    AWARD_REASONS,
    Anomaly,
    Concentration,
    Heat,
    Window,
    anomalies,
    concentration,
    concentration_by_grid,
    concentration_for,
    earned_by_subject,
    gini,
    grid_heat,
    lorenz,
    proactive_service,
    rule_categories,
    top_share,
)

__all__ = [
    "ACTIVITY_REASONS",
    "AWARD_REASONS",
    "Anomaly",
    "Concentration",
    "Heat",
    "Window",
    "anomalies",
    "concentration",
    "concentration_by_grid",
    "concentration_for",
    "earned_by_subject",
    "gini",
    "grid_heat",
    "lorenz",
    "proactive_service",
    "rule_categories",
    "top_share",
]
