"""Pseudonymous identifiers: residents' ids replaced by keyed hashes before anything is hashed or stored.

A :class:`Pseudonymiser` turns a raw id into ``"p:" + HMAC-SHA256(key, kind ‖ id)`` in hex. It is applied
once, where an event enters the engine, so everything derived from the subject — ledger entries and their
hash chain, account names such as ``subject:p:…:spendable``, ``subject``-scoped counters, traces — holds
only the pseudonym. Stores keep what they are given and never see the key. It is one-way: to look up a
resident, pseudonymise the query (``store.entries(tenant, subject=p.subject(raw))``). See docs/privacy.md.
"""

from __future__ import annotations

import hashlib
import hmac

import attrs

__all__ = ["MIN_KEY_BYTES", "Pseudonymiser"]

#: Shortest key accepted; HMAC-SHA256 keys shorter than the 32-byte output weaken it.
MIN_KEY_BYTES = 32
PREFIX = "p:"


def _check_key(_instance: object, _attribute: object, key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"a pseudonymisation key must be bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a pseudonymisation key needs at least {MIN_KEY_BYTES} bytes, got {len(key)}")


@attrs.frozen(slots=True)
class Pseudonymiser:
    """Keyed, deterministic, one-way ids. The key never appears in ``repr``.

    The same raw id always maps to the same pseudonym under one key, so limits, balances and histories
    keep working; without the key a pseudonym cannot be linked back, nor recomputed from a guessed id.
    Each kind of id (subject, household) is hashed in its own domain, so equal raw strings of different
    kinds do not collide.
    """

    key: bytes = attrs.field(repr=False, validator=_check_key)

    @classmethod
    def for_tenant(cls, master_key: bytes, tenant: str) -> Pseudonymiser:
        """A per-tenant pseudonymiser derived from one master key: pseudonyms do not link across tenants."""
        _check_key(None, None, master_key)
        return cls(hmac.new(master_key, b"gridpoints:tenant\x00" + tenant.encode(), hashlib.sha256).digest())

    def _pseudonym(self, kind: str, raw: str) -> str:
        message = f"gridpoints:{kind}\x00{raw}".encode()
        return PREFIX + hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def subject(self, raw: str) -> str:
        """The pseudonym of a subject (resident or grid worker) id; apply to ``subject`` and ``actor`` alike."""
        return self._pseudonym("subject", raw)

    def household(self, raw: str) -> str:
        """The pseudonym of a household id, which often encodes an address."""
        return self._pseudonym("household", raw)
