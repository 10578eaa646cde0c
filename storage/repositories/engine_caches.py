"""Read caches kept per database engine, and the rules that keep them from hiding a write.

Browsing (`catalog.BrowseCache`), calendars (`booking.BusyCache`) and cards' latest reviews
(`reviews.LatestReviews`) each keep what read-only units of work read, for a few seconds, one
cache per engine. They share three pieces, here:

- `Shelf`: entries of one kind with a life and a size, and the bookkeeping that keeps out a
  read that may have missed a write made in this process;
- `PerEngine`: the registry, one cache per engine (an async engine or its sync engine);
- for caches whose reads may run in a SQLite transaction begun before a write (`stamped`),
  the stamp each transaction takes as it begins, and `kept`, which says whether what such a
  read saw may be kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar
from weakref import WeakKeyDictionary, WeakSet

import sqlalchemy as sa

from storage.repositories.base import SqlRepository

EVERYTHING = object()  # the writer key of a write that affects every entry of a shelf


class Shelf:
    """Entries of one kind, each living `seconds`, at most `size` of them; with the
    bookkeeping that keeps out what a read may have missed of a write made here.

    A write drops what it affects (its key, or every entry) as soon as it is made, and
    `ticket` refuses to hand a ticket for a key while a transaction that wrote it may still
    commit: a read made then could miss the write. `put` keeps nothing read with a ticket
    taken before any later write (of any key: rare, and simpler than tracking each).
    """

    def __init__(self, seconds: float, size: int, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        # key (or EVERYTHING) -> the transactions that wrote it and had not ended when seen
        self._writers: dict[Hashable, list[Any]] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> tuple[Any] | None:
        """(value,) while held and young enough; None otherwise."""
        held = self._entries.get(key)
        if held is None:
            return None
        if held[0] <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return (held[1],)

    def _unfinished(self, key: Hashable) -> bool:
        writers = self._writers.get(key)
        if writers is None:
            return False
        writers[:] = [t for t in writers if t.is_active]
        if writers:
            return True
        del self._writers[key]
        return False

    def ticket(self, key: Hashable) -> int | None:
        """What to hand `put` with the value about to be read; None while a write of it may
        still commit."""
        if self._unfinished(key) or self._unfinished(EVERYTHING):
            return None
        return self._generation

    @property
    def generation(self) -> int:
        """Bumped by every write."""
        return self._generation

    def busy(self) -> bool:
        """Whether a write of any key may still commit."""
        return any([self._unfinished(key) for key in list(self._writers)])

    def put(self, ticket: int | None, key: Hashable, value: Any) -> None:
        if ticket is None or ticket != self._generation or self.seconds <= 0:
            return
        self._entries[key] = (self.clock() + self.seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def written(self, key: Hashable, transaction: Any) -> None:
        """`key` (or every entry, with EVERYTHING) was written in `transaction` (None: it
        has already committed)."""
        self._generation += 1
        if key is EVERYTHING:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
        for held in list(self._writers):
            self._unfinished(held)
        if transaction is not None and transaction.is_active:
            self._writers.setdefault(key, []).append(transaction)


class Stamped(Protocol):
    def stamp(self) -> int | None:
        """Changes whenever anything is written here; None while a write may still commit."""


C = TypeVar("C")
S = TypeVar("S", bound=Stamped)


def _key(engine: Any) -> Any:
    return getattr(engine, "sync_engine", engine)


class PerEngine(Generic[C]):
    """One cache per engine, made by `make` on first use."""

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._held: WeakKeyDictionary[Any, C] = WeakKeyDictionary()

    def of(self, engine: Any) -> C:
        key = _key(engine)
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = self._make()
        return held

    def use(self, engine: Any, cache: C) -> None:
        self._held[_key(engine)] = cache


class StampedPerEngine(PerEngine[S]):
    """One cache per engine whose reads, on SQLite, are kept only when nothing was written
    here since their transaction began (see `kept`).

    On SQLite each transaction records, as it begins, the engine's cache and its stamp; that
    needs a `begin` listener, which `use` adds. A cache made on first use (`of`) adds none,
    and so keeps nothing read on SQLite: a listener added while another task's transaction
    is beginning would change the list SQLAlchemy is walking (the SQLite engine's own BEGIN
    listener waits on the driver), so wiring calls `use` before the engine runs one.
    """

    def __init__(self, make: Callable[[], S], name: str) -> None:
        super().__init__(make)
        self._info_key = f"yueban_{name}_begun"  # where the stamp is kept in a connection
        self._stamped: WeakSet[Any] = WeakSet()

    def use(self, engine: Any, cache: S) -> None:
        super().use(engine, cache)
        key = _key(engine)
        if key.dialect.name == "sqlite" and key not in self._stamped:
            sa.event.listen(key, "begin", self._stamp)
            self._stamped.add(key)

    def _stamp(self, connection: Any) -> None:
        cache = self._held.get(connection.engine)
        connection.info[self._info_key] = (cache, None if cache is None else cache.stamp())

    async def kept(self, repository: SqlRepository, cache: S) -> bool:
        """Whether what `repository`'s read-only unit of work just read may be kept (besides
        its ticket).

        On PostgreSQL it runs in autocommit: each statement saw what was committed when it
        started, after its ticket was taken. On SQLite its deferred transaction sees the
        database as of its first statement, which may be well before the ticket: kept only
        when nothing was written here since the transaction began, nor being written then
        (and never on an engine whose transactions are not stamped).
        """
        if repository.dialect == "postgresql":
            return True
        connection = await repository.uow.open()
        begun = connection.sync_connection.info.get(self._info_key)
        return (begun is not None and begun[0] is cache and begun[1] is not None
                and begun[1] == cache.stamp())
