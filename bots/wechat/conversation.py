"""One inbound WeChat message being answered: who acts, their session, and what we say back.

A `Conversation` is what every flow function receives. It carries the acting user (resolved
through the core's `GetUserByChannel`, else `RegisterFromChannel`, cached briefly per
openid), the person's `Session`, the idempotency key made at the edge (`wx:{MsgId}`, or for events
`wx:{FromUserName}:{CreateTime}:{Event}`), and collects the replies (`Text`, `Image`) the
intake then sends: the first text as WeChat's passive reply when it is ready in time, the
rest as customer-service messages.

Flows never send anything themselves and never catch domain errors: they build commands,
`await conv.run(cmd)` and describe the result with `say`, `ask` (a numbered prompt) or
`expect` (a prompt for free text).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bots.i18n import gettext
from bots.wechat.render import numbered, split_text
from bots.wechat.sessions import MAX_CHOICES, Session
from core.identity.commands import GetUserByChannel, RegisterFromChannel
from core.messagebus import MessageBus
from core.shared.messages import Command

if TYPE_CHECKING:
    from bots.wechat.relay import WeChatCourier

PLATFORM = "wechat"


@dataclass(frozen=True)
class Actor:
    """The Yueban user behind an openid."""

    user_id: int
    locale: str
    timezone: str
    display_name: str
    roles: frozenset[str]

    @property
    def is_provider(self) -> bool:
        return "provider" in self.roles

    @property
    def is_operator(self) -> bool:
        return "operator" in self.roles


class ActorCache:
    """openid -> Actor for a short while, so a chat does not cost a transaction per message.

    A flow that changes who the person is (a language switch, an account link) forgets the
    entry; other workers see the change when theirs expires.
    """

    def __init__(self, ttl_seconds: float = 60.0, *, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Actor]] = OrderedDict()

    def get(self, openid: str) -> Actor | None:
        entry = self._entries.get(openid)
        if entry is None:
            return None
        expires_at, actor = entry
        if expires_at <= self._clock():
            del self._entries[openid]
            return None
        return actor

    def put(self, openid: str, actor: Actor) -> None:
        self._entries.pop(openid, None)
        self._entries[openid] = (self._clock() + self._ttl, actor)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, openid: str) -> None:
        self._entries.pop(openid, None)


async def resolve_actor(bus: MessageBus, cache: ActorCache, openid: str) -> Actor:
    actor = cache.get(openid)
    if actor is not None:
        return actor
    # A returning follower costs one read; only a new one (or a changed account) registers.
    user = await bus.handle(GetUserByChannel(platform=PLATFORM, external_id=openid, chat_id=openid))
    if user is None:
        user = await bus.handle(RegisterFromChannel(
            platform=PLATFORM, external_id=openid, chat_id=openid,
            # WeChat no longer tells an account its followers' nicknames.
            display_name=f"微信用户{openid[-4:]}",
        ))
    actor = Actor(user.id, user.locale, user.timezone, user.display_name,
                  frozenset(str(role) for role in user.roles))
    cache.put(openid, actor)
    return actor


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Image:
    content: bytes
    filename: str


Outgoing = Text | Image


@dataclass(frozen=True)
class ProductOptions:
    """What this deployment offers in WeChat."""

    wechat_pay: bool = False  # WeChat Pay native (QR) is configured
    sandbox: bool = False  # the clearly labelled test gateway (demo mode)
    page_size: int = 6
    top_up_amounts: tuple[int, ...] = (5_000, 10_000, 20_000)  # fen
    currency: str = "CNY"


@dataclass
class Conversation:
    bus: MessageBus
    openid: str
    actor: Actor
    session: Session
    key: str
    now: datetime
    options: ProductOptions
    actors: ActorCache
    courier: WeChatCourier | None = None  # carries order-chat messages (the relay)
    out: list[Outgoing] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # per-message memo of lookups

    @property
    def locale(self) -> str:
        return self.actor.locale

    @property
    def timezone(self) -> str:
        return self.actor.timezone

    @property
    def user_id(self) -> int:
        return self.actor.user_id

    def t(self, key: str, /, **params: Any) -> str:
        return gettext(key, self.locale, **params)

    def idempotency(self, suffix: str = "") -> str:
        """The edge's key for a state-changing command (suffixed when one message sends two)."""
        return f"{self.key}:{suffix}" if suffix else self.key

    async def run(self, command: Command) -> Any:
        return await self.bus.handle(command)

    # -- replies ---------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.out.extend(Text(piece) for piece in split_text(text))

    def tell(self, key: str, /, **params: Any) -> None:
        self.say(self.t(key, **params))

    def image(self, content: bytes, filename: str) -> None:
        self.out.append(Image(content, filename))

    def ask(self, head: str, choices: Sequence[tuple[str, str]], *, step: str = "") -> None:
        """A numbered prompt; the person's next number picks one of `choices`."""
        shown = list(choices)[:MAX_CHOICES]
        self.session.step = step
        self.session.choices = shown
        self.say(numbered(head, shown, self.locale))

    def expect(self, step: str, prompt: str, **data: Any) -> None:
        """A prompt for free text (a reason, an address); `data` is kept for the answer."""
        self.session.step = step
        self.session.choices = []
        self.session.data.update(data)
        self.say(prompt)

    def finish(self) -> None:
        """The flow is over: forget its step, data and numbers."""
        self.session.reset()
