"""The Redis client Yueban's processes build from `YUEBAN_REDIS_URL`, in this one place.

redis-py's asyncio client spends more CPU around a command than the command's round trip:
on Python 3.11 each write runs under `asyncio.wait_for`, which wraps it in a Task of its own,
and each command passes a retry wrapper, OpenTelemetry hooks and a branch for HIMPORT. The
bot runs a Redis command or two for every update, so the client here keeps what matters in
production and leaves out the rest:

- Timeouts: the socket timeout (redis-py's 5 s, or `?socket_timeout=` in the URL) still
  bounds every write and every read, so a dead or stuck server fails a command instead of
  hanging it. A write waits under `asyncio.timeout` (a timer, no Task), and only when the
  kernel did not take all of it; reads were already bounded that way by redis-py.
- Reconnecting: the pool reconnects a connection the server closed (a restart, CLIENT KILL)
  before handing it out. redis-py's own pool skips that check over RESP3 with maintenance
  notifications, its defaults, so there the first command after a restart failed. A command
  that fails on its connection disconnects it, and the next command connects afresh.
- The pool: every command borrows a connection from the client's pool and returns it.
- No retries, as before: `Redis.from_url` builds connections that never retry a command.
  A retried EVALSHA could run twice, and the update claim would then refuse its own update.

This lives in `storage` (not `app`) because the sweeper's Redis lock (`storage.locks`) builds
a client too, and storage never imports the composition root.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _LeanConnection(AbstractConnection):
    """A connection whose writes wait under `asyncio.timeout` instead of `asyncio.wait_for`."""

    def closed_by_server(self) -> bool:
        """Connected, but the server has closed its end (restart, CLIENT KILL, idle timeout)."""
        return self._reader is not None and self._reader.at_eof()

    async def connect(self) -> None:
        # The pool calls this for every command it hands a connection to; redis-py runs even
        # the "already connected" check inside its retry loop.
        if not self.is_connected:
            await super().connect()

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer = self._writer
        assert writer is not None
        try:
            writer.writelines(command)
            # drain() waits only while the transport holds more than its high-water mark;
            # when the kernel took everything it returns at once (or raises on a lost
            # connection), and arming a timer for it would be the costliest part of a write.
            if self.socket_timeout and writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.socket_timeout):
                    await writer.drain()
            else:
                await writer.drain()
        except TimeoutError:  # asyncio's, the builtin on 3.11 (an OSError: caught first)
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as error:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {error}") from error
        except BaseException:
            # Part of the command may have gone out: the connection cannot be reused.
            await self.disconnect(nowait=True)
            raise


class _TcpConnection(_LeanConnection, Connection):
    pass


class _SslConnection(_LeanConnection, SSLConnection):
    pass


class _UnixConnection(_LeanConnection, UnixDomainSocketConnection):
    pass


_CONNECTION_CLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _TcpConnection,
    SSLConnection: _SslConnection,
    UnixDomainSocketConnection: _UnixConnection,
}


class _LeanPool(ConnectionPool):
    """redis-py's pool without what it does per command for features not used here: the
    OpenTelemetry connection counters, the deprecated-arguments check on `get_connection`,
    and re-authenticating a released connection (for streaming credential providers, which
    a URL cannot configure). Handing out, checking and taking back connections is redis-py's
    own code and state, under the pool's lock as there."""

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        # With maintenance notifications on (redis-py's default over RESP3, which is its
        # default protocol), redis-py stops checking the connections it hands out, so one the
        # server closed while it sat in the pool would fail the next command: after a Redis
        # restart, every pooled connection would fail once.
        if isinstance(connection, _LeanConnection) and connection.closed_by_server():
            await connection.disconnect()
        await super().ensure_connection(connection)

    async def get_connection(self, *_: Any, **__: Any) -> AbstractConnection:
        async with self._lock:
            connection = self.get_available_connection()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        async with self._lock:
            self._in_use_connections.remove(connection)
            if connection.should_reconnect():
                await connection.disconnect()
            self._available_connections.append(connection)


# Commands whose sending depends on per-connection state redis-py keeps (HIMPORT SET).
_REDIS_PY_PATH = frozenset({"HIMPORT", "HIMPORT SET", b"HIMPORT", b"HIMPORT SET"})


class LeanRedis(Redis):
    """`redis.asyncio.Redis` whose commands skip the layers this project does not use: the
    retry wrapper (its connections never retry, so it only disconnected and re-raised, which
    this does), the OpenTelemetry hooks (not enabled) and the HIMPORT branch. Pipelines,
    pub/sub and a single-connection client keep redis-py's own paths."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.single_connection_client or args[0] in _REDIS_PY_PATH:
            return await super().execute_command(*args, **options)
        pool = self.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(connection.pack_command(*args))
            return await self.parse_response(connection, args[0], **options)
        except (RedisConnectionError, RedisTimeoutError) as error:
            await connection.disconnect(error=error, failure_count=1)
            raise
        finally:
            await pool.release(connection)


def redis_client(url: str) -> Redis:
    """A client for `url` (redis://, rediss:// or unix://, with redis-py's URL options)
    with its own connection pool, closed by `await client.aclose()`."""
    options: dict[str, Any] = dict(parse_url(url))
    scheme_class = options.pop("connection_class", Connection)
    pool = _LeanPool(connection_class=_CONNECTION_CLASSES[scheme_class], **options)
    return LeanRedis.from_pool(pool)
