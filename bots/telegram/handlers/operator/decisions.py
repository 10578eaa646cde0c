"""Operators deciding from their group (or from a card in a private chat).

Every button of a card names its decision; only a user with the operator role may take it.
A tap by anyone else is answered, in their language, that only operators decide, and
changes nothing (the core refuses such commands as well). A decision edits the card: the
buttons go and a line says who decided what, and when (in the group's time zone).

Decisions that need words ask for them and wait for that operator's reply in the same chat
(the FSM is per person and chat): the reason for rejecting an application or a withdrawal,
the reference of a manual transfer. A dispute split offers shares to refund.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

from bots.i18n import gettext
from bots.telegram.callbacks import ActionCallback
from bots.telegram.handlers.operator.callbacks import DisputeSplit
from bots.telegram.handlers.operator.cards import (
    OperatorGroup,
    application_card,
    dispute_actions,
    dispute_card,
    withdrawal_card,
)
from bots.telegram.handlers.provider import drafts
from bots.telegram.handlers.provider.views import local_time
from bots.telegram.keyboards import keyboard_for
from bots.telegram.messenger import render_notice
from bots.telegram.middlewares import Actor
from core.booking.commands import GetOrder, ListOrders, ResolveDispute
from core.booking.states import OrderState
from core.catalog.commands import (
    ApproveApplication,
    GetApplication,
    ListApplications,
    RejectApplication,
)
from core.catalog.onboarding import ApplicationStatus
from core.identity.commands import GetUser, UserView
from core.messagebus import MessageBus
from core.ports import ChannelAddress
from core.wallet.commands import ApproveWithdrawal, ListWithdrawals, RejectWithdrawal
from core.wallet.model import WithdrawalStatus

SPLITS_BPS = (2500, 5000, 7500)
QUEUE_LIMIT = 20  # of each kind; the oldest first
HISTORY_LINES = 15
# This flow's part of the person's FSM data (see `drafts`).
DRAFT = "operator"


class OperatorForm(StatesGroup):
    reject_application = State()
    reject_withdrawal = State()
    payout_reference = State()


Ask = OperatorForm
TEXT = F.text & ~F.text.startswith("/")


def router() -> Router:
    ops = Router(name="operator")
    ops.message.register(on_cancel, Command("cancel"), StateFilter(OperatorForm))
    ops.message.register(on_queue, Command("queue"))
    on = ops.callback_query.register
    on(on_approve_application, ActionCallback.filter(F.kind == "application.approve"))
    on(on_reject_application, ActionCallback.filter(F.kind == "application.reject"))
    on(on_show_application, ActionCallback.filter(F.kind == "application.show"))
    on(on_resolve, ActionCallback.filter(F.kind.in_({"dispute.release", "dispute.refund"})))
    on(on_partial, ActionCallback.filter(F.kind == "dispute.partial"))
    on(on_split, DisputeSplit.filter())
    on(on_show_order, ActionCallback.filter(F.kind == "dispute.show"))
    on(on_approve_withdrawal, ActionCallback.filter(F.kind == "withdrawal.approve"))
    on(on_approve_manual, ActionCallback.filter(F.kind == "withdrawal.approve_manual"))
    on(on_reject_withdrawal, ActionCallback.filter(F.kind == "withdrawal.reject"))
    ops.message.register(on_application_reason, Ask.reject_application, TEXT, answers_prompt)
    ops.message.register(on_withdrawal_reason, Ask.reject_withdrawal, TEXT, answers_prompt)
    ops.message.register(on_payout_reference, Ask.payout_reference, TEXT, answers_prompt)
    return ops


async def answers_prompt(message: Message, state: FSMContext) -> bool:
    """In a group, only a reply to the bot's question is the answer: the operator may well
    be talking to colleagues meanwhile (and a bot that is the group's admin sees it all)."""
    if message.chat.type == "private":
        return True
    prompt = (await drafts.draft(state, DRAFT)).get("prompt_id")
    replied = message.reply_to_message
    return replied is not None and replied.message_id == prompt


async def on_cancel(message: Message, state: FSMContext, locale: str) -> None:
    await drafts.finish(state, DRAFT)
    await message.answer(gettext("tg.op.cancelled", locale))


# -- what waits for a decision --------------------------------------------------------------


async def on_queue(
    message: Message, actor: Actor, locale: str, bus: MessageBus,
    operator_group: OperatorGroup | None = None,
) -> None:
    """`/queue`: the cards of everything still waiting for an operator, posted again."""
    view: UserView = await bus.handle(GetUser(user_id=actor.user_id, actor_id=actor.user_id))
    if "operator" not in view.roles:
        await message.answer(gettext("tg.op.not_operator", locale))
        return
    where = _writing_in(message.chat.id, view, operator_group)
    applications = await bus.handle(ListApplications(
        status=ApplicationStatus.PENDING, limit=QUEUE_LIMIT, actor_id=actor.user_id,
    ))
    withdrawals = await bus.handle(ListWithdrawals(
        status=WithdrawalStatus.REQUESTED.value, limit=QUEUE_LIMIT, actor_id=actor.user_id,
    ))
    disputed = [o for o in await bus.handle(ListOrders(state=OrderState.DISPUTED, limit=QUEUE_LIMIT))
                if o.dispute is not None]
    if not (applications or withdrawals or disputed):
        await message.answer(gettext("tg.op.queue.empty", where.locale))
        return
    await message.answer(gettext(
        "tg.op.queue.title", where.locale, applications=len(applications),
        withdrawals=len(withdrawals), disputes=len(disputed),
    ))
    cards = [
        *(application_card(
            application_id=a.id, display_name=a.profile.display_name, user_id=a.user_id,
            offers=len(a.offers), at=a.submitted_at, dedup_key=f"queue:application:{a.id}",
        ) for a in applications),
        *(dispute_card(
            order_id=o.id, number=o.number, opened_by=o.dispute.opened_by,
            customer_id=o.customer_id, provider_id=o.provider_id, reason=o.dispute.reason,
            respond_by=o.dispute.respond_by, dedup_key=f"queue:dispute:{o.id}",
        ) for o in disputed if o.dispute is not None),
        *(withdrawal_card(
            withdrawal_id=w.id, provider_id=w.provider_id, amount=w.amount, fee=w.fee,
            method=w.method, at=w.requested_at, dedup_key=f"queue:withdrawal:{w.id}",
        ) for w in withdrawals),
    ]
    address = ChannelAddress("telegram", str(message.chat.id), where.locale, where.timezone)
    for card in cards:
        text, keyboard = render_notice(card, address)
        await message.answer(text, reply_markup=keyboard)


# -- applications ---------------------------------------------------------------------------


async def on_approve_application(
    callback: CallbackQuery, callback_data: ActionCallback, actor: Actor, locale: str,
    bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    await bus.handle(ApproveApplication(
        application_id=_id(callback_data), actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _decided(callback, _where(callback, view, operator_group), bus, actor, "application_approved")


async def on_reject_application(
    callback: CallbackQuery, callback_data: ActionCallback, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    await _ask(callback, state, bus, actor, locale, operator_group, Ask.reject_application,
               "tg.op.ask.application_reason", target=_id(callback_data))


async def on_application_reason(
    message: Message, state: FSMContext, actor: Actor, bus: MessageBus, bot: Bot,
    event_update: Update,
) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    await bus.handle(RejectApplication(
        application_id=data["target"], reason=message.text, actor_id=actor.user_id,
        idempotency_key=f"tg:{event_update.update_id}",
    ))
    await drafts.finish(state, DRAFT)
    await _decided_later(message, bot, bus, actor, data, "application_rejected", reason=message.text)


async def on_show_application(
    callback: CallbackQuery, callback_data: ActionCallback, actor: Actor, locale: str,
    bus: MessageBus, bot: Bot, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    where = _where(callback, view, operator_group)
    application = await bus.handle(
        GetApplication(application_id=_id(callback_data), actor_id=actor.user_id)
    )
    profile = application.profile
    lines = [
        gettext("tg.op.application.title", where.locale, application_id=application.id,
                name=profile.display_name, user_id=application.user_id,
                status=application.status.value),
        gettext("tg.op.application.bio", where.locale, bio=profile.bio or "—"),
        gettext("tg.op.application.media", where.locale, photos=len(profile.photos),
                voice=gettext("tg.pv.yes" if profile.voice_intro else "tg.pv.no", where.locale),
                documents=len(application.documents)),
    ]
    lines.extend(
        gettext("tg.op.application.offer", where.locale, category_id=offer.category_id,
                price=offer.unit_price.format(), min_units=offer.min_units)
        for offer in application.offers
    )
    rules = ", ".join(rule.label() for rule in application.availability.rules) or "—"
    lines.append(gettext("tg.op.application.hours", where.locale, hours=rules))
    if profile.location is not None:
        lines.append(gettext("tg.op.application.area", where.locale, lat=profile.location.lat,
                             lon=profile.location.lon, radius=profile.service_radius_km))
    assert isinstance(callback.message, Message)
    chat_id = callback.message.chat.id
    await bot.send_message(chat_id, "\n".join(lines), reply_to_message_id=callback.message.message_id)
    for document in application.documents:
        # The form keeps how each file was sent ("photo:<id>" or "document:<id>"); a file
        # that came another way is named, not shown.
        kind, _, file_id = document.file_ref.partition(":")
        caption = gettext(f"tg.op.document.{document.kind.value}", where.locale)
        if kind == "photo" and file_id:
            await bot.send_photo(chat_id, file_id, caption=caption)
        elif kind == "document" and file_id:
            await bot.send_document(chat_id, file_id, caption=caption)
        else:
            await bot.send_message(chat_id, gettext(
                "tg.op.document.elsewhere", where.locale, document=caption, ref=document.file_ref,
            ))
    await callback.answer()


# -- disputes -------------------------------------------------------------------------------


async def on_resolve(
    callback: CallbackQuery, callback_data: ActionCallback, actor: Actor, locale: str,
    bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    outcome = callback_data.kind.removeprefix("dispute.")
    order = await bus.handle(ResolveDispute(
        order_id=_id(callback_data), outcome=outcome, actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _decided(callback, _where(callback, view, operator_group), bus, actor,
                   f"dispute_{outcome}", refund=_refund(order))


async def on_partial(
    callback: CallbackQuery, callback_data: ActionCallback, actor: Actor, locale: str,
    bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    where = _where(callback, view, operator_group)
    order_id = _id(callback_data)
    rows = [[
        InlineKeyboardButton(
            text=gettext("tg.op.split.refund", where.locale, percent=bps // 100),
            callback_data=DisputeSplit(order_id=order_id, refund_bps=bps).pack(),
        )
        for bps in SPLITS_BPS
    ], [InlineKeyboardButton(
        text=gettext("tg.op.split.back", where.locale),
        callback_data=DisputeSplit(order_id=order_id, refund_bps=-1).pack(),
    )]]
    assert isinstance(callback.message, Message)
    await callback.message.edit_reply_markup(reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
    await callback.answer(gettext("tg.op.split.choose", locale))


async def on_split(
    callback: CallbackQuery, callback_data: DisputeSplit, actor: Actor, locale: str,
    bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    where = _where(callback, view, operator_group)
    assert isinstance(callback.message, Message)
    if callback_data.refund_bps < 0:
        await callback.message.edit_reply_markup(
            reply_markup=keyboard_for(dispute_actions(callback_data.order_id), where.locale)
        )
        await callback.answer()
        return
    order = await bus.handle(ResolveDispute(
        order_id=callback_data.order_id, outcome="partial", refund_bps=callback_data.refund_bps,
        actor_id=actor.user_id, idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _decided(callback, where, bus, actor, "dispute_partial",
                   percent=callback_data.refund_bps // 100, refund=_refund(order))


async def on_show_order(
    callback: CallbackQuery, callback_data: ActionCallback, actor: Actor, locale: str,
    bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    where = _where(callback, view, operator_group)
    details = await bus.handle(GetOrder(order_id=_id(callback_data), actor_id=actor.user_id))
    order = details.order
    lines = [gettext(
        "tg.op.order.title", where.locale, number=order.number, state=order.state.value,
        total=order.price.total.format(), customer_id=order.customer_id,
        provider_id=order.provider_id or "—",
    )]
    if order.dispute is not None:
        lines.append(gettext("tg.op.order.dispute", where.locale, reason=order.dispute.reason,
                             response=order.dispute.response or "—"))
    for entry in details.history[-HISTORY_LINES:]:
        lines.append(gettext(
            "tg.op.order.history", where.locale, at=_at(entry.at, where),
            action=entry.action, from_state=entry.from_state or "—",
            to_state=entry.to_state or "—", actor=entry.actor_id or "—",
        ))
    assert isinstance(callback.message, Message)
    await callback.message.answer("\n".join(lines), reply_to_message_id=callback.message.message_id)
    await callback.answer()


# -- withdrawals ----------------------------------------------------------------------------


async def on_approve_withdrawal(
    callback: CallbackQuery, callback_data: ActionCallback, actor: Actor, locale: str,
    bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    withdrawal = await bus.handle(ApproveWithdrawal(
        withdrawal_id=_id(callback_data), actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    await _decided(callback, _where(callback, view, operator_group), bus, actor,
                   "withdrawal_paid", payout=withdrawal.payout.format(),
                   reference=withdrawal.payout_ref or "—")


async def on_approve_manual(
    callback: CallbackQuery, callback_data: ActionCallback, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    await _ask(callback, state, bus, actor, locale, operator_group, Ask.payout_reference,
               "tg.op.ask.payout_reference", target=_id(callback_data))


async def on_payout_reference(
    message: Message, state: FSMContext, actor: Actor, bus: MessageBus, bot: Bot,
    event_update: Update,
) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    withdrawal = await bus.handle(ApproveWithdrawal(
        withdrawal_id=data["target"], reference=message.text, actor_id=actor.user_id,
        idempotency_key=f"tg:{event_update.update_id}",
    ))
    await drafts.finish(state, DRAFT)
    await _decided_later(message, bot, bus, actor, data, "withdrawal_paid",
                         payout=withdrawal.payout.format(), reference=withdrawal.payout_ref or "—")


async def on_reject_withdrawal(
    callback: CallbackQuery, callback_data: ActionCallback, state: FSMContext, actor: Actor,
    locale: str, bus: MessageBus, operator_group: OperatorGroup | None = None,
) -> None:
    await _ask(callback, state, bus, actor, locale, operator_group, Ask.reject_withdrawal,
               "tg.op.ask.withdrawal_reason", target=_id(callback_data))


async def on_withdrawal_reason(
    message: Message, state: FSMContext, actor: Actor, bus: MessageBus, bot: Bot,
    event_update: Update,
) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    await bus.handle(RejectWithdrawal(
        withdrawal_id=data["target"], reason=message.text, actor_id=actor.user_id,
        idempotency_key=f"tg:{event_update.update_id}",
    ))
    await drafts.finish(state, DRAFT)
    await _decided_later(message, bot, bus, actor, data, "withdrawal_rejected", reason=message.text)


# -- helpers --------------------------------------------------------------------------------


async def _operator(callback: CallbackQuery, bus: MessageBus, actor: Actor, locale: str) -> UserView | None:
    """The tapping person if they are an operator; anyone else is told so (and None)."""
    view: UserView = await bus.handle(GetUser(user_id=actor.user_id, actor_id=actor.user_id))
    if "operator" in view.roles and view.status == "active":
        return view
    await callback.answer(gettext("tg.op.not_operator", locale), show_alert=True)
    return None


def _where(callback: CallbackQuery, view: UserView, group: OperatorGroup | None) -> OperatorGroup:
    chat_id = callback.message.chat.id if callback.message is not None else None
    return _writing_in(chat_id, view, group)


def _writing_in(chat_id: int | None, view: UserView, group: OperatorGroup | None) -> OperatorGroup:
    """The language and time zone to write in: the group's in the group, else the operator's."""
    if group is not None and str(chat_id) == group.chat_id:
        return group
    return OperatorGroup(str(chat_id), view.locale, view.timezone)


async def _ask(
    callback: CallbackQuery, state: FSMContext, bus: MessageBus, actor: Actor, locale: str,
    group: OperatorGroup | None, step: State, prompt: str, *, target: int,
) -> None:
    """Ask this operator for words in this chat, remembering which card to mark."""
    view = await _operator(callback, bus, actor, locale)
    if view is None:
        return
    where = _where(callback, view, group)
    assert isinstance(callback.message, Message)
    await state.set_state(step)
    await drafts.keep(
        state, DRAFT,
        target=target, locale=where.locale, timezone=where.timezone,
        card={"chat_id": callback.message.chat.id, "message_id": callback.message.message_id,
              "text": callback.message.text or ""},
    )
    # A forced reply lets the answer reach the bot even where it only sees replies to itself.
    question = await callback.message.answer(
        gettext(prompt, where.locale, name=actor.display_name, id=target),
        reply_markup=ForceReply(selective=True),
    )
    await drafts.keep(state, DRAFT, prompt_id=question.message_id)
    await callback.answer()


def _line(where: OperatorGroup, bus: MessageBus, actor: Actor, what: str, **params: Any) -> str:
    return gettext(f"tg.op.decided.{what}", where.locale, name=actor.display_name,
                   at=_at(bus.clock.now(), where), **params)


async def _decided(callback: CallbackQuery, where: OperatorGroup, bus: MessageBus, actor: Actor,
                   what: str, **params: Any) -> None:
    """Mark the tapped card with the decision: who, what, when; its buttons go."""
    line = _line(where, bus, actor, what, **params)
    if isinstance(callback.message, Message):
        await callback.message.edit_text(f"{callback.message.text or ''}\n\n{line}".strip())
    await callback.answer(line[:200])


async def _decided_later(message: Message, bot: Bot, bus: MessageBus, actor: Actor,
                         data: dict[str, Any], what: str, **params: Any) -> None:
    where = OperatorGroup(str(message.chat.id), data.get("locale", "zh"), data.get("timezone", "UTC"))
    line = _line(where, bus, actor, what, **params)
    card = data.get("card") or {}
    if card.get("message_id"):
        await bot.edit_message_text(
            text=f"{card.get('text', '')}\n\n{line}".strip(), chat_id=card["chat_id"],
            message_id=card["message_id"],
        )
    await message.reply(gettext("tg.op.done", where.locale))


def _at(instant: Any, where: OperatorGroup) -> str:
    return local_time(instant, where.timezone)


def _refund(order: Any) -> str:
    refund = order.dispute.refund if order.dispute is not None else None
    return refund.format() if refund is not None else "—"


def _id(callback_data: ActionCallback) -> int:
    return int(callback_data.id or 0)
