"""API keys: who may call the service, for which tenant, in which roles.

A key is a random bearer token the host hands to a caller; the service keeps only its SHA-256 digest
(``sha256:<hex>``), so a leaked configuration file does not leak a usable token. Tokens are random and
long (``new_token`` makes 32 random bytes), so a fast digest is enough: there is nothing to guess a
dictionary of. Each key is bound to one tenant and one or more roles; a ``resident`` key is also bound to
the one subject whose own data it may read.

Configuration is JSON, a list of objects, in a file (``--keys FILE``) or the ``GRIDPOINTS_API_KEYS``
environment variable::

    [{"name": "wechat-backend", "sha256": "…", "tenant": "pudong", "roles": ["platform"]},
     {"name": "resident r-1", "sha256": "…", "tenant": "pudong", "roles": ["resident"], "subject": "r-1"}]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs

__all__ = ["KEYS_ENV", "ApiKey", "KeyRing", "Role", "hash_token", "new_token"]

#: The environment variable holding the keys' JSON when no file is given.
KEYS_ENV = "GRIDPOINTS_API_KEYS"
_DIGEST_PREFIX = "sha256:"


class Role(StrEnum):
    """What a key may do (each operation of the service lists the roles it admits)."""

    PLATFORM = "platform"   #: the host platform's back end: submit events, redeem, read
    STAFF = "staff"         #: community staff: close periods, settle holds, lint and check rulesets, verify
    AUDITOR = "auditor"     #: read and verify, never write
    RESIDENT = "resident"   #: one resident's own balance, history and decisions


def hash_token(token: str) -> str:
    """The digest a configuration stores for ``token``: ``sha256:`` and 64 hex digits."""
    return _DIGEST_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (43 URL-safe characters) to hand to a caller; store only :func:`hash_token` of it."""
    return secrets.token_urlsafe(32)


def _digest(value: str) -> str:
    text = value.lower()
    if not text.startswith(_DIGEST_PREFIX):
        text = _DIGEST_PREFIX + text
    hex_part = text[len(_DIGEST_PREFIX):]
    if len(hex_part) != 64 or any(c not in "0123456789abcdef" for c in hex_part):
        raise ValueError(f"expected a SHA-256 digest ('sha256:' and 64 hex digits), got {value!r}")
    return text


def _roles(values: Iterable[str | Role]) -> frozenset[Role]:
    found = set()
    for value in values:
        try:
            found.add(Role(value))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown role {value!r}; expected one of {known}") from None
    if not found:
        raise ValueError("a key needs at least one role")
    return frozenset(found)


@attrs.frozen(slots=True)
class ApiKey:
    """One caller: the digest of its token, its tenant, its roles and (for a resident) its subject."""

    name: str
    digest: str = attrs.field(converter=_digest, repr=False)
    tenant: str
    roles: frozenset[Role] = attrs.field(converter=_roles)
    subject: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.tenant:
            raise ValueError(f"key {self.name!r}: tenant must not be empty")
        if Role.RESIDENT in self.roles and not self.subject:
            raise ValueError(f"key {self.name!r}: a resident key must name its subject")
        if self.subject is not None and self.roles != {Role.RESIDENT}:
            raise ValueError(f"key {self.name!r}: only a resident-only key is bound to a subject")

    @classmethod
    def for_token(cls, name: str, token: str, *, tenant: str, roles: Iterable[str | Role],
                  subject: str | None = None) -> ApiKey:
        """A key from its clear token (as a host or a test makes one); only the digest is kept."""
        return cls(name, hash_token(token), tenant, frozenset(Role(r) for r in roles), subject)


@attrs.frozen(slots=True)
class KeyRing:
    """The configured keys, found by the digest of a presented token."""

    keys: tuple[ApiKey, ...]
    _by_digest: Mapping[str, ApiKey] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        found: dict[str, ApiKey] = {}
        for key in self.keys:
            if key.digest in found:
                raise ValueError(f"keys {found[key.digest].name!r} and {key.name!r} have the same token")
            found[key.digest] = key
        object.__setattr__(self, "_by_digest", found)

    def find(self, token: str) -> ApiKey | None:
        """The key whose token this is, or None."""
        digest = hash_token(token)
        key = self._by_digest.get(digest)
        # The dict lookup already matched; compare once more in constant time for the record.
        return key if key is not None and hmac.compare_digest(key.digest, digest) else None

    @classmethod
    def from_json(cls, text: str, *, source: str = "<keys>") -> KeyRing:
        """Keys from their JSON configuration (see the module docs); a bad entry names its position."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(data, list):
            raise ValueError(f"{source}: expected a JSON list of keys, got {type(data).__name__}")
        keys = []
        for position, item in enumerate(data):
            keys.append(_key_of(item, f"{source}[{position}]"))
        return cls(tuple(keys))

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        return cls.from_json(Path(path).read_text(encoding="utf-8"), source=str(path))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        """Keys from ``GRIDPOINTS_API_KEYS``; an unset variable is no keys (every call is then refused)."""
        text = (environ if environ is not None else os.environ).get(KEYS_ENV)
        return cls.from_json(text, source=KEYS_ENV) if text else cls(())


def _key_of(item: Any, where: str) -> ApiKey:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object, got {type(item).__name__}")
    unknown = set(item) - {"name", "sha256", "tenant", "roles", "subject"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for field in ("sha256", "tenant", "roles"):
        if field not in item:
            raise ValueError(f"{where}: missing {field!r}")
    roles = item["roles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError(f"{where}.roles: expected a list of role names")
    try:
        return ApiKey(str(item.get("name", where)), str(item["sha256"]), str(item["tenant"]),
                      frozenset(roles), item.get("subject"))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
