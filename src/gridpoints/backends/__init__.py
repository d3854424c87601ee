"""Optional back ends: other engines a ruleset's stateless part compiles to, used as independent oracles.

``gridpoints.backends.durable`` (extra ``durable``) compiles event types, ``when:`` conditions and the four
points forms to a durable_rules ruleset (see :mod:`gridpoints.backends.durable`).
"""

from __future__ import annotations

__all__: list[str] = []
