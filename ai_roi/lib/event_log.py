"""Dagster's local (sqlite) event log, its database connections kept open between events.

Dagster's `SqliteEventLogStorage` creates a SQLAlchemy engine and opens a new sqlite connection for
every write, and disposes of both afterwards: about 15 ms an asset event on this project's 2-core
machine (a run's event goes to its run's database and, for an asset event, again to the index),
where the same writes over open connections take about 2.5 ms, most of it the commits (300
asset events into a new folder, 2026-12-06). A whole run
on the embedded data writes some 1,600 events. `PooledSqliteEventLogStorage` is that storage with
one engine and connection pool per database: the index and the last few runs'; older runs'
engines are disposed of, so a long-lived process (the UI, the daemon) holds a bounded number of
files open. Everything else (layout, schema, migrations, watchers) is Dagster's own, so a
Dagster home written by one storage is read by the other.

`settings.ensure_dagster_home` names it in the dagster.yaml it writes; a dagster.yaml of the
user's own is left as it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine

# Runs whose databases keep an open engine: a run writes to its own and to the index
RUN_DATABASES_KEPT = 4


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with an engine per database kept (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: OrderedDict[str, object] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str):
        """The engine of `shard`'s database, made once; the oldest runs' are disposed of."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
        self._engines[shard] = engine  # the most recently used last
        runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in runs[:-RUN_DATABASES_KEPT]:
            self._engines.pop(name).dispose()
        return engine

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # before their files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
