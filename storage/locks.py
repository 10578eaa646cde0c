"""Leader locks: at most one sweeper runs across all workers.

- Redis (when configured): `SET key token NX PX ttl`; the holder extends it on every tick
  and deletes it only if the token is still its own (both in Lua, so check and act are one
  step). A holder that dies loses the lock when the TTL runs out.
- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on one dedicated
  connection; it is released when that connection closes, so a crashed holder frees it.
- SQLite (one machine): an exclusive `flock` on a file next to the database.

`acquire()` never waits: it returns True while this process holds the lock (and renews it),
False while somebody else does.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    async def acquire(self) -> bool: ...
    async def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (advisory locks take a bigint)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresAdvisoryLock:
    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        self.key = lock_key(name)
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            try:
                await self._connection.execute(sa.text("SELECT 1"))
                return True
            except Exception:  # the connection died, and the lock with it
                log.warning("advisory lock connection lost; trying to take the lock again")
                await self._drop()
        connection = await self.engine.connect()
        try:
            got = (
                await connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
            # Commit so the connection does not sit "idle in transaction"; the session-level
            # lock survives the commit.
            await connection.commit()
        except Exception:
            await connection.close()
            raise
        if not got:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def release(self) -> None:
        if self._connection is None:
            return
        try:
            await self._connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await self._connection.commit()
        finally:
            await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:
                log.debug("closing a dead lock connection failed", exc_info=True)


_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock:
    def __init__(self, client: Any, name: str, ttl_s: float) -> None:
        self.client = client
        self.key = f"yueban:lock:{name}"
        self.ttl_ms = int(ttl_s * 1000)
        self.token = uuid.uuid4().hex
        self._held = False

    async def acquire(self) -> bool:
        if self._held and await self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms):
            return True
        self._held = bool(await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self._held

    async def release(self) -> None:
        if self._held:
            await self.client.eval(_RELEASE, 1, self.key, self.token)
        self._held = False


class FileLock:
    """For SQLite: every worker is on the one machine that has the database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = await asyncio.to_thread(os.open, self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def leader_lock(name: str, *, engine: AsyncEngine, redis_url: str | None = None,
                ttl_s: float = 60.0) -> LeaderLock:
    """Redis when configured, else the database's own mechanism."""
    if redis_url:
        from storage.redis_client import redis_client

        return RedisLock(redis_client(redis_url), name, ttl_s)
    url = make_url(str(engine.url))
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(engine, name)
    database = url.database or ""
    if database in ("", ":memory:"):
        base = Path(os.environ.get("TMPDIR", "/tmp")) / "yueban"
    else:
        base = Path(database)
    return FileLock(base.with_name(f"{base.name}.{name}.lock"))
