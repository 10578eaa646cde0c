"""What routing a chat message needs, remembered between messages: the sender (to check they
may act), their open conversations with participants and addresses, and the one they chose
with /chat. Reading that costs a transaction per message; a chat sends many.

An entry lives `ttl_seconds`. Every relay handler that changes a conversation, an address or
a choice forgets what it touched, in this process; a change made by another process (the
admin console, another worker) bumps the conversation's version, which the transcript write
checks (`RelayJournal.append`), so the next message notices and reads afresh. What another
process changes about the person (a ban from the console) is seen when the entry expires, as
with the chat adapters' actor caches. Opening a conversation puts both sides' routes in, read
in the transaction that opens it, so even their first messages read nothing.

A route read while something it touches was forgotten (its user, or one of its
conversations) may be out of date and is not kept; one read while others' chats changed is.
Many chats open and change at once on a busy server: were any forget to spoil every read
under way, most routes put at an opening would be thrown away and read again.

Recently routed messages are kept too (with who took part in their conversation), so the
report of a delivered copy needs no read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from core.identity.model import User
from core.relay.model import Conversation, RelayedMessage


@dataclass(frozen=True)
class Route:
    """A sender as routing sees them. Its conversations are shared snapshots: read, never
    change them."""

    user: User
    conversations: tuple[Conversation, ...]
    selected_id: int | None  # read only when there are several to choose from


@dataclass(frozen=True)
class RoutedMessage:
    message: RelayedMessage
    took_part: frozenset[int]  # everyone who ever took part in its conversation


class RouteCache:
    def __init__(
        self,
        ttl_seconds: float = 30.0,
        *,
        max_users: int = 50_000,
        max_messages: int = 20_000,
        max_forgotten: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_users = max_users
        self._max_messages = max_messages
        self._max_forgotten = max_forgotten
        self._clock = clock
        self._routes: OrderedDict[int, tuple[float, Route]] = OrderedDict()
        self._messages: OrderedDict[int, RoutedMessage] = OrderedDict()
        # conversation id -> users whose route was read with it (may name routes long gone)
        self._readers: dict[int, set[int]] = {}
        # Bumped by every forget; what a forget touched is stamped with it, so `put` can tell
        # whether a route was read before something it touches changed.
        self._generation = 0
        self._forgotten: OrderedDict[tuple[str, int], int] = OrderedDict()
        # The newest stamp let go to keep `_forgotten` small: a read begun before it cannot be
        # checked any more, so it is not kept.
        self._forgotten_floor = 0

    # -- routes --------------------------------------------------------------------------

    def get(self, user_id: int) -> Route | None:
        entry = self._routes.get(user_id)
        if entry is None:
            return None
        expires_at, route = entry
        if expires_at <= self._clock():
            del self._routes[user_id]
            return None
        return route

    def begin(self) -> int:
        """Call before reading a route from storage; hand the result to `put`."""
        return self._generation

    def put(self, user_id: int, route: Route, token: int) -> None:
        if not route.conversations or self._changed_since(token, user_id, route):
            return  # nothing to route to (yet); or what it was read from changed meanwhile
        self._routes.pop(user_id, None)
        self._routes[user_id] = (self._clock() + self._ttl, route)
        for conversation in route.conversations:
            self._readers.setdefault(conversation.id, set()).add(user_id)
        while len(self._routes) > self._max_users:
            self._routes.popitem(last=False)

    def forget_user(self, *user_ids: int) -> None:
        self._generation += 1
        for user_id in user_ids:
            self._routes.pop(user_id, None)
            self._stamp("user", user_id)

    def forget_conversation(self, conversation: Conversation) -> None:
        """Everyone in it, and everyone whose remembered route includes it; a route being
        read meanwhile that includes it, or is one of theirs, is not kept either."""
        self._generation += 1
        self._stamp("conversation", conversation.id)
        for participant in conversation.participants:
            self._routes.pop(participant.user_id, None)
            self._stamp("user", participant.user_id)
        for user_id in self._readers.pop(conversation.id, ()):
            self._routes.pop(user_id, None)

    def _stamp(self, kind: str, key: int) -> None:
        self._forgotten.pop((kind, key), None)
        self._forgotten[(kind, key)] = self._generation
        while len(self._forgotten) > self._max_forgotten:
            _, generation = self._forgotten.popitem(last=False)
            self._forgotten_floor = max(self._forgotten_floor, generation)

    def _changed_since(self, token: int, user_id: int, route: Route) -> bool:
        if token == self._generation:
            return False  # nothing forgotten since it was read
        if token < self._forgotten_floor:
            return True
        forgotten = self._forgotten
        if forgotten.get(("user", user_id), 0) > token:
            return True
        return any(forgotten.get(("conversation", c.id), 0) > token
                   for c in route.conversations)

    # -- recently routed messages ----------------------------------------------------------

    def remember_message(self, message: RelayedMessage, conversation: Conversation) -> None:
        took_part = frozenset(p.user_id for p in conversation.participants)
        self._messages[message.id] = RoutedMessage(message, took_part)
        while len(self._messages) > self._max_messages:
            self._messages.popitem(last=False)

    def message(self, relayed_message_id: int) -> RoutedMessage | None:
        return self._messages.get(relayed_message_id)
