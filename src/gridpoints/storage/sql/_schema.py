"""The SQL store's tables, built per table prefix so several gridpoints schemas can share one database.

Identifiers are compared byte for byte on every backend: MySQL and MariaDB would otherwise fold case and
ignore trailing spaces (their default collations), making ``"E1"`` and ``"e1 "`` the same event id.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import mysql

from gridpoints.model import GENESIS_HASH

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,30}\Z")

# Lengths keep every composite key under InnoDB's 3072-byte index limit at 4 bytes a character.
TENANT_LEN = 128
ID_LEN = 255
KEY_PART_LEN = 128
SHORT_LEN = 32
HASH_LEN = 64


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a safe identifier stem; raw DDL (triggers) splices it into SQL text."""
    if not _PREFIX.match(prefix):
        raise ValueError(
            f"table_prefix must be a letter or underscore followed by up to 30 letters, digits or "
            f"underscores, got {prefix!r}"
        )
    return prefix


Family = Literal["sqlite", "postgresql", "mysql"]


def dialect_family(name: str) -> Family:
    """The backend family a SQLAlchemy dialect name belongs to; gridpoints speaks to these three only."""
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    if name in ("mysql", "mariadb"):
        return "mysql"
    raise ValueError(f"the SQL store supports SQLite, PostgreSQL and MySQL/MariaDB, not {name!r}")


def mysql_collation(*, is_mariadb: bool, server_version: tuple[int | str, ...] | None) -> str:
    """The binary, no-pad utf8mb4 collation the server offers (MySQL's ``utf8mb4_bin`` pads)."""
    if is_mariadb:
        return "utf8mb4_nopad_bin"
    if server_version and isinstance(server_version[0], int) and server_version[0] >= 8:
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"


@attrs.frozen(slots=True)
class Tables:
    """The tables of one gridpoints schema."""

    prefix: str
    metadata: MetaData
    entries: Table
    balances: Table
    counters: Table
    events: Table
    heads: Table
    schema_version: Table
    notices: Table
    notice_acks: Table


def build_tables(prefix: str, *, collation: str = "utf8mb4_bin") -> Tables:
    """Describe the schema for ``prefix``; ``collation`` applies on MySQL/MariaDB only."""
    check_prefix(prefix)
    metadata = MetaData()
    options: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": collation}
    decision_text = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

    entries = Table(
        f"{prefix}entries", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("event_id", String(ID_LEN), nullable=False),
        Column("subject", String(ID_LEN), nullable=False),
        Column("debit", String(ID_LEN), nullable=False),
        Column("credit", String(ID_LEN), nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("ruleset", String(ID_LEN), nullable=False),
        Column("rule", String(ID_LEN), nullable=False),
        Column("reason", String(ID_LEN), nullable=False),
        Column("occurred_at", String(SHORT_LEN * 2), nullable=False),
        Column("reverses", BigInteger, nullable=True),
        Column("prev_hash", String(HASH_LEN), nullable=False),
        Column("hash", String(HASH_LEN), nullable=False),
        Index(f"ix_{prefix}entries_subject", "tenant", "subject", "seq"),
        **options,
    )
    balances = Table(
        f"{prefix}balances", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("account", String(ID_LEN), primary_key=True),
        Column("balance", BigInteger, nullable=False),
        **options,
    )
    counters = Table(
        f"{prefix}counters", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("scope", String(SHORT_LEN), primary_key=True),
        Column("scope_id", String(KEY_PART_LEN), primary_key=True),
        Column("metric", String(KEY_PART_LEN), primary_key=True),
        Column("window", String(SHORT_LEN), primary_key=True),
        Column("value", BigInteger, nullable=False),
        **options,
    )
    events = Table(
        f"{prefix}events", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("event_id", String(ID_LEN), primary_key=True),
        Column("fingerprint", String(KEY_PART_LEN), nullable=False),
        Column("decision", decision_text, nullable=False),
        # The record's seal (schema v3; NULL on a record written before records were sealed).
        Column("seq", BigInteger, nullable=True),
        Column("recorded_at", String(SHORT_LEN * 2), nullable=True),
        Column("actor", String(ID_LEN), nullable=True),
        Column("attributes", decision_text, nullable=True),
        Column("deltas", decision_text, nullable=True),
        Column("entry_from", BigInteger, nullable=True),
        Column("entry_hashes", decision_text, nullable=True),
        Column("prev_hash", String(HASH_LEN), nullable=True),
        Column("hash", String(HASH_LEN), nullable=True),
        Index(f"ux_{prefix}events_seq", "tenant", "seq", unique=True),
        **options,
    )
    heads = Table(
        f"{prefix}chain_heads", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("hash", String(HASH_LEN), nullable=False),
        # The records' chain head (schema v3).
        Column("records", BigInteger, nullable=False, server_default="0"),
        Column("record_hash", String(HASH_LEN), nullable=False, server_default=GENESIS_HASH),
        # The MAC over both heads (schema v5); NULL for a row not written since.
        Column("mac", String(HASH_LEN), nullable=True),
        **options,
    )
    schema_version = Table(
        f"{prefix}schema_version", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
        **options,
    )
    notices = Table(
        f"{prefix}notices", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("cursor", BigInteger, primary_key=True, autoincrement=False),
        Column("notice", decision_text, nullable=False),
        **options,
    )
    notice_acks = Table(
        f"{prefix}notice_acks", metadata,
        Column("tenant", String(TENANT_LEN), primary_key=True),
        Column("cursor", BigInteger, nullable=False),
        **options,
    )
    return Tables(prefix, metadata, entries, balances, counters, events, heads, schema_version, notices,
                  notice_acks)
