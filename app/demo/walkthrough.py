"""`yueban demo --walkthrough`: the whole journey, played in the page by its people.

Mei applies to be a game companion (`/apply`), Olivia approves her in the operators' group,
Mei goes online, Ann browses to her card and books an hour right now, pays in the sandbox,
Mei accepts, they talk through the bot (when the relay's Telegram side is in this build),
Mei finishes with a photo, Ann confirms and reviews her, Mei withdraws her earnings and
Olivia approves the payout.

Every step is what a person does in their Telegram client, done through the stand-in
exactly as the page does it: typing, sending a photo, tapping a button. The page follows
the chats live and shows a caption for each step (`Narration`). Buttons are found by their
callback data, built with the flows' own `CallbackData` factories, so the walkthrough
works in every language; questions without buttons are recognised by their texts.
`pace` is the pause between actions, so people can follow (`--pace 0` for tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.demo.avatars import avatar_png, document_png
from bots.i18n import gettext
from bots.telegram.callbacks import ActionCallback
from bots.telegram.handlers.customer.callbacks import (
    BrowseCallback,
    CalendarCallback,
    DraftCallback,
    OfferCallback,
    OrderCallback,
    PayCallback,
    ProviderCallback,
)
from bots.telegram.handlers.provider.callbacks import (
    ApplyCategory,
    ApplyStep,
    FinishWithoutPhoto,
    PresenceChoice,
    WithdrawAmount,
    WithdrawMethod,
    WithdrawStart,
)
from bots.telegram.standin import BotWorld, SimUser
from core.catalog.commands import GetProvider, ListApplications, ListCategories
from core.catalog.onboarding import ApplicationStatus
from core.shared.errors import NotFound

if TYPE_CHECKING:
    from app.demo.server import RunningDemo

log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 30.0
SETTLEMENT_TIMEOUT_S = 90.0
RELAY_TIMEOUT_S = 10.0
MAX_PAGES = 6
NEWCOMER_GAME = "genshin-impact"
NEWCOMER_PRICE = "60"
RELAY_ROUTER = "bots.telegram.handlers.relay"


class WalkthroughError(Exception):
    """A step did not happen as expected; the message says which."""


@dataclass
class WalkResult:
    completed: bool
    reason: str = ""
    steps: list[str] = field(default_factory=list)
    relayed: bool = False
    order_id: int | None = None


def relay_transport_available() -> bool:
    """Whether the bot's router tree has the relay's Telegram transport (order chats)."""
    from bots.telegram.handlers import FEATURES

    return any(getattr(make, "__module__", "") == RELAY_ROUTER for make in FEATURES)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in keyboard for button in row]


def callback_datas(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for b in buttons(message) if "callback_data" in b]


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


class Actor:
    """One person of the walkthrough in one chat (their private chat, or a group)."""

    def __init__(self, world: BotWorld, telegram_id: int, chat_id: int | None, pace: float,
                 language: str) -> None:
        self.world = world
        self.sim = SimUser(world, world.users[telegram_id])
        self.chat_id = chat_id if chat_id is not None else telegram_id
        self.pace = pace
        self.language = language

    @property
    def _chat(self) -> int | None:
        return None if self.chat_id == self.sim.id else self.chat_id

    def mark(self) -> int:
        """Where "from now on" starts in the stand-in's timeline."""
        return len(self.world.events)

    async def pause(self, factor: float = 1.0) -> None:
        if self.pace > 0:
            await asyncio.sleep(self.pace * factor)

    async def send(self, text: str) -> int:
        await self.pause()
        mark = self.mark()
        await self.sim.send_text(text, chat=self._chat)
        return mark

    async def photo(self, data: bytes, caption: str | None = None) -> int:
        await self.pause()
        mark = self.mark()
        await self.sim.send_photo(data, caption=caption, chat=self._chat)
        return mark

    async def tap(self, message: dict[str, Any], data: str) -> int:
        await self.pause(0.6)
        mark = self.mark()
        await self.sim.tap(message, callback_data=data, chat=self._chat)
        return mark

    def has_messages(self) -> bool:
        state = self.world.chats.get(self.chat_id)
        return bool(state and state.messages)

    async def bot_message(self, after: int, matches: Callable[[dict[str, Any]], bool], what: str,
                          within: float = STEP_TIMEOUT_S) -> dict[str, Any]:
        """The bot's message in this chat, sent or edited after `after`, that `matches`."""
        state = self.world.chats[self.chat_id]

        def current(event: Any) -> dict[str, Any] | None:
            if event.chat_id != self.chat_id or event.kind not in ("message", "edited"):
                return None
            if not event.data.get("from_bot"):
                return None
            stored = state.messages.get(int(event.data["message"]["message_id"]))
            if stored is None or stored.deleted:
                return None
            return stored.message

        try:
            event = await self.world.wait_for_event(
                lambda e: (m := current(e)) is not None and matches(m), after=after, within=within)
        except TimeoutError:
            raise WalkthroughError(f"{self.sim.user['first_name']} did not get {what} "
                                   f"within {within:.0f} s") from None
        found = current(event)
        assert found is not None
        return found

    async def with_button(self, after: int, wanted: Callable[[str], bool], what: str,
                          within: float = STEP_TIMEOUT_S) -> tuple[dict[str, Any], str]:
        """A message with a button whose callback data is `wanted`; returns both."""
        message = await self.bot_message(
            after, lambda m: any(wanted(d) for d in callback_datas(m)), what, within)
        return message, next(d for d in callback_datas(message) if wanted(d))

    async def with_text(self, after: int, key: str, what: str) -> dict[str, Any]:
        """A message containing the text of `key` (its part before the first placeholder)."""
        fragment = gettext(key, self.language).split("{")[0].strip()[:48]
        return await self.bot_message(after, lambda m: fragment in text_of(m), what)


class Walkthrough:
    def __init__(self, demo: RunningDemo, pace: float) -> None:
        self.demo = demo
        self.bus = demo.runtime.bus
        self.language = demo.options.language
        world = demo.standin.bot
        people = demo.world
        self.ann = Actor(world, people.customer.telegram_id, None, pace, self.language)
        self.mei = Actor(world, people.newcomer.telegram_id, None, pace, self.language)
        self.olivia = Actor(world, people.operator.telegram_id, demo.group_chat_id, pace,
                            self.language)
        self.mei_id = people.newcomer.user_id
        self.result = WalkResult(completed=False)
        self.relay = relay_transport_available()
        self.total = 12
        # Where each step's consequences start in the stand-in's timeline.
        self._payment: tuple[dict[str, Any], str] = ({}, "")
        self._paid_mark = self._accepted_mark = self._finished_mark = 0
        self._reviewed_mark = self._withdrawal_mark = 0

    def say(self, key: str, step: int | None = None, **params: Any) -> None:
        text = gettext(f"demo.walk.{key}", self.language, **params)
        self.result.steps.append(key)
        self.demo.narration.say(text, step=step, of=self.total if step else None,
                                done=key in ("done", "failed"))

    async def run(self) -> WalkResult:
        try:
            self.say("intro")
            await self.ann.pause(2)
            if await self._is_provider():
                self.say("already_provider", 2)
            else:
                await self.apply()
                await self.approve()
            await self.go_online()
            order_id = await self.book()
            self.result.order_id = order_id
            await self.pay(order_id)
            await self.accept(order_id)
            await self.chat(order_id)
            await self.finish(order_id)
            await self.review(order_id)
            withdrawal_id = await self.withdraw()
            await self.approve_payout(withdrawal_id)
            self.say("done")
            self.result.completed = True
        except WalkthroughError as error:
            self.result.reason = str(error)
            self.say("failed", reason=str(error))
        return self.result

    async def _is_provider(self) -> bool:
        try:
            await self.bus.handle(GetProvider(provider_id=self.mei_id))
        except NotFound:
            return False
        return True

    async def _category(self, slug: str) -> int:
        for category in await self.bus.handle(ListCategories()):
            if category.slug == slug:
                return int(category.id)
        raise WalkthroughError(f"no category {slug}")

    # -- Mei applies ----------------------------------------------------------------------

    async def apply(self) -> None:
        mei = self.mei
        self.say("apply", 1)
        if not mei.has_messages():
            await mei.bot_message(await mei.send("/start"), lambda m: True, "a welcome")
        pending = [a for a in await self.bus.handle(
            ListApplications(status=ApplicationStatus.PENDING)) if a.user_id == self.mei_id]
        if pending:
            return  # sent in an earlier run and not decided yet: the operators decide now
        mark = await mei.send("/apply")
        await mei.with_text(mark, "tg.apply.ask.name", "the question for her name")
        mark = await mei.send("Mei")
        await mei.with_text(mark, "tg.apply.ask.bio", "the question about herself")
        mark = await mei.send(gettext("demo.walk.mei_bio", self.language))
        await mei.with_button(mark, lambda d: d == ApplyStep(action="done").pack(),
                              "the question for photos")
        mark = await mei.photo(avatar_png("Mei"))
        saved, done = await mei.with_button(mark, lambda d: d == ApplyStep(action="done").pack(),
                                            "the saved photo")
        mark = await mei.tap(saved, done)
        voice, skip = await mei.with_button(mark, lambda d: d == ApplyStep(action="skip").pack(),
                                            "the question for a voice introduction")
        mark = await mei.tap(voice, skip)
        games = ApplyCategory(category_id=await self._category("games")).pack()
        menu, _ = await mei.with_button(mark, lambda d: d == games, "the categories")
        mark = await mei.tap(menu, games)
        game = ApplyCategory(category_id=await self._category(NEWCOMER_GAME)).pack()
        menu, _ = await mei.with_button(mark, lambda d: d == game, "the games")
        mark = await mei.tap(menu, game)
        await mei.with_text(mark, "tg.apply.ask.price", "the question for her price")
        mark = await mei.send(NEWCOMER_PRICE)
        offers, done = await mei.with_button(
            mark, lambda d: d == ApplyStep(action="done").pack(), "her list of services")
        mark = await mei.tap(offers, done)
        hours, preset = await mei.with_button(
            mark, lambda d: d == ApplyStep(action="hours", value=0).pack(), "the question for hours")
        mark = await mei.tap(hours, preset)
        await mei.with_text(mark, "tg.apply.ask.id_photo", "the question for an ID photo")
        mark = await mei.photo(document_png("ID CARD", "Mei"))
        summary, submit = await mei.with_button(
            mark, lambda d: d == ApplyStep(action="submit").pack(), "the summary")
        mark = await mei.tap(summary, submit)
        await mei.bot_message(mark, lambda m: not callback_datas(m), "her application sent")

    async def approve(self) -> None:
        olivia = self.olivia
        self.say("approve", 2)
        pending = [a.id for a in await self.bus.handle(
            ListApplications(status=ApplicationStatus.PENDING)) if a.user_id == self.mei_id]
        if not pending:
            raise WalkthroughError("Mei's application was not received")
        approve = ActionCallback(kind="application.approve", id=pending[0]).pack()
        card, _ = await olivia.with_button(0, lambda d: d == approve, "the application card")
        mark = await olivia.tap(card, approve)
        await self.mei.with_text(mark, "catalog.notice.application_approved", "the approval")

    # -- Mei goes online, Ann books ----------------------------------------------------------

    async def go_online(self) -> None:
        mei = self.mei
        self.say("online", 3)
        mark = await mei.send("/workspace")
        online = PresenceChoice(presence="online").pack()
        dashboard, _ = await mei.with_button(mark, lambda d: d == online, "her workspace")
        await mei.tap(dashboard, online)

    async def book(self) -> int:
        ann = self.ann
        self.say("browse", 4)
        if not ann.has_messages():
            await ann.bot_message(await ann.send("/start"), lambda m: True, "a welcome")
        games = BrowseCallback(category_id=await self._category("games"), page=0).pack()
        mark = await ann.send("/browse")
        menu, _ = await ann.with_button(mark, lambda d: d == games, "the catalogue")
        mark = await ann.tap(menu, games)
        category = await self._category(NEWCOMER_GAME)
        game = BrowseCallback(category_id=category, page=1).pack()
        menu, _ = await ann.with_button(mark, lambda d: d == game, "the games")
        mark = await ann.tap(menu, game)
        card = ProviderCallback(provider_id=self.mei_id, action="card").pack()
        for page in range(2, MAX_PAGES + 2):
            listing = await ann.bot_message(
                mark, lambda m: any(d.startswith("cp:") or d.startswith("cf:")
                                    for d in callback_datas(m)), "the providers")
            if card in callback_datas(listing):
                break
            following = BrowseCallback(category_id=category, page=page).pack()
            if following not in callback_datas(listing):
                raise WalkthroughError("Mei is not in the list of providers")
            mark = await ann.tap(listing, following)
        mark = await ann.tap(listing, card)
        self.say("book", 5)
        book = ProviderCallback(provider_id=self.mei_id, action="book").pack()
        profile, _ = await ann.with_button(mark, lambda d: d == book, "Mei's card")
        mark = await ann.tap(profile, book)

        def one_unit(data: str) -> bool:
            if not data.startswith("co:"):
                return False
            chosen = OfferCallback.unpack(data)
            return chosen.provider_id == self.mei_id and chosen.units == 1

        units, data = await ann.with_button(mark, one_unit, "how many hours")
        offer_id = OfferCallback.unpack(data).offer_id
        mark = await ann.tap(units, data)
        now = CalendarCallback(mode="b", ref=offer_id, owner=self.mei_id, units=1,
                               action="n").pack()
        calendar, _ = await ann.with_button(mark, lambda d: d == now, "the calendar")
        mark = await ann.tap(calendar, now)
        skip = DraftCallback(action="skip").pack()
        notes, _ = await ann.with_button(mark, lambda d: d == skip, "the question for notes")
        mark = await ann.tap(notes, skip)
        confirm = DraftCallback(action="confirm").pack()
        summary, _ = await ann.with_button(mark, lambda d: d == confirm, "the summary")
        mark = await ann.tap(summary, confirm)

        def sandbox(data: str) -> bool:
            if not data.startswith("cy:"):
                return False
            choice = PayCallback.unpack(data)
            return choice.purpose == "o" and choice.method == "sandbox"

        self._payment = await ann.with_button(mark, sandbox, "the ways to pay")
        return int(PayCallback.unpack(self._payment[1]).ref)

    async def pay(self, order_id: int) -> None:
        self.say("pay", 6)
        menu, data = self._payment
        self._paid_mark = await self.ann.tap(menu, data)
        await self.ann.with_text(self._paid_mark, "tgc.pay.test_note", "the payment receipt")

    async def accept(self, order_id: int) -> None:
        mei = self.mei
        self.say("accept", 7)
        accept = ActionCallback(kind="order.accept", id=order_id).pack()
        request, _ = await mei.with_button(self._paid_mark, lambda d: d == accept,
                                           "the new order")
        self._accepted_mark = await mei.tap(request, accept)

    async def chat(self, order_id: int) -> None:
        if not self.relay:
            self.say("chat_skipped", 8)
            return
        self.say("chat", 8)
        # Both sides are told when the order's chat opens; only then is anything relayed.
        opened = ActionCallback(kind="relay.select", id=order_id).pack()
        for person in (self.ann, self.mei):
            await person.with_button(self._accepted_mark, lambda d: d == opened,
                                     "the opening of the order's chat")
        line = gettext("demo.walk.ann_says", self.language)
        mark = await self.ann.send(line)
        try:
            await self.mei.bot_message(mark, lambda m: line in text_of(m), "Ann's message",
                                       within=RELAY_TIMEOUT_S)
        except WalkthroughError:
            self.say("chat_not_relayed", 8)
            return
        reply = gettext("demo.walk.mei_says", self.language)
        mark = await self.mei.send(reply)
        await self.ann.bot_message(mark, lambda m: reply in text_of(m), "Mei's answer",
                                   within=RELAY_TIMEOUT_S)
        self.result.relayed = True

    async def finish(self, order_id: int) -> None:
        mei = self.mei
        self.say("finish", 9)
        finish = ActionCallback(kind="order.finish", id=order_id).pack()
        serving, _ = await mei.with_button(self._accepted_mark, lambda d: d == finish,
                                           "the running order")
        mark = await mei.tap(serving, finish)
        without = FinishWithoutPhoto(order_id=order_id).pack()
        await mei.with_button(mark, lambda d: d == without, "the question for a proof photo")
        self._finished_mark = await mei.photo(document_png("DONE", "Genshin Impact"))

    async def review(self, order_id: int) -> None:
        ann = self.ann
        self.say("review", 10)
        confirm = ActionCallback(kind="order.confirm", id=order_id).pack()
        delivered, _ = await ann.with_button(self._finished_mark, lambda d: d == confirm,
                                             "the finished order")
        mark = await ann.tap(delivered, confirm)
        five = OrderCallback(order_id=order_id, action="rate", value=5).pack()
        stars, _ = await ann.with_button(mark, lambda d: d == five, "the stars")
        mark = await ann.tap(stars, five)
        skip = OrderCallback(order_id=order_id, action="review_skip", value=5).pack()
        await ann.with_button(mark, lambda d: d == skip, "the question for a few words")
        self._reviewed_mark = await ann.send(gettext("demo.walk.ann_review", self.language))
        await ann.with_text(self._reviewed_mark, "tgc.review.thanks", "the thanks")

    async def withdraw(self) -> int:
        mei = self.mei
        self.say("withdraw", 11)
        withdraw = ActionCallback(kind="wallet.withdraw").pack()
        settled, _ = await mei.with_button(self._reviewed_mark, lambda d: d == withdraw,
                                           "her settled earnings", within=SETTLEMENT_TIMEOUT_S)
        mark = await mei.tap(settled, withdraw)
        start = WithdrawStart(currency="CNY").pack()
        earnings, _ = await mei.with_button(mark, lambda d: d == start, "her earnings")
        mark = await mei.tap(earnings, start)
        amount, data = await mei.with_button(mark, lambda d: d.startswith("wsa:CNY:"),
                                             "the amount to withdraw")
        chosen = WithdrawAmount.unpack(data)
        mark = await mei.tap(amount, data)
        sandbox = WithdrawMethod(currency="CNY", amount=chosen.amount, method="sandbox").pack()
        try:
            methods, _ = await mei.with_button(mark, lambda d: d == sandbox, "the payout methods",
                                               within=5.0)
            mark = await mei.tap(methods, sandbox)
        except WalkthroughError:
            pass  # one payout method only: the request went out at once
        await mei.with_text(mark, "tg.ws.withdraw.sent", "the withdrawal receipt")
        self._withdrawal_mark = mark
        card, _ = await self.olivia.with_button(
            mark, lambda d: d.startswith("a:withdrawal.approve"), "the withdrawal card")
        return int(ActionCallback.unpack(callback_datas(card)[0]).id or 0)

    async def approve_payout(self, withdrawal_id: int) -> None:
        olivia = self.olivia
        self.say("payout", 12)
        approve = ActionCallback(kind="withdrawal.approve", id=withdrawal_id).pack()
        card, _ = await olivia.with_button(self._withdrawal_mark, lambda d: d == approve,
                                           "the withdrawal card")
        mark = await olivia.tap(card, approve)
        await self.mei.with_text(mark, "notice.wallet.withdrawal_paid", "the payout")


async def play(demo: RunningDemo, pace: float = 1.0) -> WalkResult:
    """Play the journey in the running demo; the result says whether it completed."""
    walkthrough = Walkthrough(demo, pace)
    try:
        return await walkthrough.run()
    except Exception as error:  # the demo keeps serving; the caption and log say why
        log.exception("the walkthrough failed")
        walkthrough.say("failed", reason=f"{type(error).__name__}: {error}")
        walkthrough.result.reason = str(error)
        return walkthrough.result
