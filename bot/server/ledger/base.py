"""The ledger's connection to its database: engine, write transactions, locks and Alembic migrations.

The only place (with its sibling modules) that imports SQLAlchemy and Alembic.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, event, func, inspect, make_url, select, text
from sqlalchemy.dialects import postgresql, sqlite

from bot.server.ledger.schema import SCOPES, micros

MIGRATION_LOCK = 0x6D72_6C67  # pg_advisory_xact_lock key shared by every migrating process
CONNECT_TIMEOUT_S = 10  # seconds to wait for a PostgreSQL connection (a DATABASE_URL may set its own connect_timeout)
IDLE_IN_TRANSACTION_S = 30  # PostgreSQL ends a session left idle inside a transaction this long
_SCRIPTS = Path(__file__).parent / "migrations"
# The hand-rolled schema_version (before Alembic) counted migrations 1..4; each is now the revision of that number.
_LEGACY = {1: "0001", 2: "0002", 3: "0003", 4: "0004"}


def _lock_file(url: str) -> Path | None:
    path = url.split(":///", 1)[-1]
    return None if path in ("", ":memory:") else Path(path + ".lock")


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on a file beside the SQLite database while writing.

    SQLite's own busy handler sleeps in growing steps and lets newcomers jump the queue;
    a waiter on flock wakes the moment the lock is free, which keeps the tail latency low.
    """
    if path is None:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alembic(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """Return the newest revision this code knows."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory(str(_SCRIPTS)).get_current_head())


def _check_budgets(budgets: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], int]:
    limits = {}
    for (scope, key), dollars in budgets.items():
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {sorted(SCOPES)}, got {scope!r}")
        if dollars < 0:
            raise ValueError("a budget cannot be negative")
        limits[(scope, key)] = micros(dollars)
    return limits


class LedgerBase:
    """The engine and the transaction helpers the ledger's parts share.

    `budgets` maps (scope, key) to the monthly cap in dollars: the operator's configuration,
    read once at process start and never stored, so removing a cap removes it.
    """

    def __init__(self, url: str, *, budgets: Mapping[tuple[str, str], float] | None = None) -> None:
        """Open (lazily) the database at a SQLAlchemy URL; call `migrate` before use."""
        is_sqlite = url.startswith("sqlite")
        # A pre-ping is a wasted SELECT 1 per request on a local SQLite file; it saves dropped PostgreSQL links.
        self._engine = create_engine(url, pool_pre_ping=not is_sqlite, connect_args=_postgres_options(url))
        self._dialect = self._engine.dialect.name
        self._lock_path = _lock_file(url) if is_sqlite else None
        if self._dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self._dialect!r}: use sqlite or postgresql")
        if self._dialect == "sqlite":
            event.listen(self._engine, "connect", _sqlite_connect)
            event.listen(self._engine, "begin", _sqlite_begin)
        self._limits = _check_budgets(budgets or {})

    @classmethod
    def for_data_dir(cls, data_dir: Path, **kw: Any) -> Any:
        """Open the SQLite ledger file in `data_dir`, creating the directory."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{(data_dir / 'ledger.db').resolve()}", **kw)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """Yield a connection in a write transaction (SQLite: BEGIN IMMEDIATE), committed on success."""
        with _file_lock(self._lock_path), self._engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    def _read(self) -> Any:
        """Return a read transaction's context manager."""
        return self._engine.begin()

    def _insert(self, table: Table) -> Any:
        """Return the dialect's INSERT, which knows ON CONFLICT."""
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def _lock_pr(self, conn: Connection, host: str, repo: str, pr_number: int) -> None:
        """Serialise the transactions that start or end a PR's jobs (SQLite's BEGIN IMMEDIATE already does)."""
        if self._dialect == "postgresql":
            key = zlib.crc32(f"{host}:{repo}#{pr_number}".encode()) - 2**31
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK, key)))

    def migrate(self) -> str:
        """Upgrade the schema to the newest Alembic revision under a lock; return the revision."""
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines would fill every start's log
        from alembic import command  # imported here, after its logger is quietened (it logs on import)
        from alembic.runtime.migration import MigrationContext

        with self._write() as conn:
            if self._dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            current = MigrationContext.configure(conn).get_current_revision()
            if current is None and inspect(conn).has_table("schema_version"):
                version = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0
                if version not in _LEGACY:
                    raise RuntimeError(f"database schema {version} is newer than this code")
                command.stamp(_alembic(conn), _LEGACY[version])
            head = head_revision()
            if current is not None and current != head and current not in _known_revisions():
                raise RuntimeError(f"database schema {current} is newer than this code ({head})")
            command.upgrade(_alembic(conn), "head")
            return head

    def ping(self) -> None:
        """Run SELECT 1; raise when the database cannot answer."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()


def _postgres_options(url: str) -> dict[str, Any]:
    """Return PostgreSQL connection options, unless the URL sets its own.

    A connect timeout, so a database host that drops packets gives the one-line error instead of a hang; and an
    idle-in-transaction timeout, so a worker frozen inside one of the ledger's (millisecond) transactions (a
    paused VM, SIGSTOP) cannot hold its locks against every other worker for longer than that.
    """
    if not url.startswith("postgresql"):
        return {}
    query = make_url(url).query
    options: dict[str, Any] = {}
    if "connect_timeout" not in query:
        options["connect_timeout"] = CONNECT_TIMEOUT_S
    given = query.get("options") or ""
    given = given if isinstance(given, str) else " ".join(given)
    if "idle_in_transaction_session_timeout" not in given:  # added to the URL's own options, which it replaces
        options["options"] = f"{given} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_S * 1000}".strip()
    return options


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(_SCRIPTS)).walk_revisions()}


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """Let SQLAlchemy's begin event issue BEGIN itself; wait on locks; WAL; enforce foreign keys."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Take SQLite's write lock up front for writes, so no transaction fails upgrading from read to write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "BEGIN")
