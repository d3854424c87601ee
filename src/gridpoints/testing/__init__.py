"""Test helpers shipped with gridpoints: the store conformance suite and fairness tooling."""
