"""The SQL store on SQLite, PostgreSQL and MySQL/MariaDB (SQLAlchemy Core): schema, migrations, statements
and error mapping."""

from gridpoints.storage.sql._store import DEFAULT_PREFIX, SQLStore, from_url, make_engine, normalise_url, upgrade

__all__ = ["DEFAULT_PREFIX", "SQLStore", "from_url", "make_engine", "normalise_url", "upgrade"]
