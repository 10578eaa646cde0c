"""Orders in WeChat: paying, the lists and cards, and every order action a person can take.

Customers pay with WeChat Pay (a native QR code sent as an image; the notify endpoint then
holds the money), their wallet balance, or, in the demo, the labelled sandbox; they cancel
(the fee is shown before they confirm) and confirm completion. Providers accept or reject
(with a reason), start (on-site work checks in with a location or a photo) and finish.
Actions come from numbered replies, msgmenu taps on notices (`act:<kind>:<id>`) or typed
words with an order number ("接单 YB0001A"); all of them end in the same functions here.
"""

from __future__ import annotations

from bots.wechat.conversation import Conversation
from bots.wechat.pay import qr_png
from bots.wechat.render import local_time, money
from core.booking.commands import (
    AcceptOrder,
    AnswerReschedule,
    CancelOrder,
    ConfirmOrder,
    FinishOrder,
    GetCategoryPolicy,
    GetOrder,
    ListOrders,
    OpenDispute,
    PayOrder,
    RejectOrder,
    RespondToDispute,
    StartOrder,
)
from core.booking.model import Order, Place
from core.booking.states import OrderState
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet.commands import GetStatement, StartPayment

S = OrderState
MAX_REASON = 300

# What each side may do next, by state: (action kind, label key).
CUSTOMER_ACTIONS: dict[OrderState, tuple[str, ...]] = {
    S.AWAITING_PAYMENT: ("order.pay", "order.cancel"),
    S.PENDING_ACCEPTANCE: ("order.cancel",),
    S.ACCEPTED: ("order.cancel",),
    S.DELIVERED: ("order.confirm", "order.dispute"),
}
PROVIDER_ACTIONS: dict[OrderState, tuple[str, ...]] = {
    S.PENDING_ACCEPTANCE: ("order.accept", "order.reject"),
    S.ACCEPTED: ("order.start", "order.cancel"),
    S.IN_SERVICE: ("order.finish",),
}


async def load(conv: Conversation, order_id: int | None = None, number: str | None = None) -> Order | None:
    """The order if the person is one of its parties (or an operator); None (told) otherwise."""
    try:
        details = await conv.run(GetOrder(order_id=order_id, number=number, actor_id=conv.user_id))
    except DomainError as error:
        # Someone else's order is "not found" here: a number tells nobody it exists.
        if error.key.startswith("error.order.not_found") or error.key == "error.order.not_yours":
            conv.tell("wx.order.not_found")
            return None
        raise
    order: Order = details.order
    return order


# -- paying ---------------------------------------------------------------------------------


async def pay_options(conv: Conversation, order: Order, *, placed: bool = False) -> None:
    head_key = "wx.pay.placed" if placed else "wx.pay.due"
    head = conv.t(head_key, number=order.number, amount=money(order.price.deposit),
                  deadline=local_time(order.payment_deadline, conv.timezone)
                  if order.payment_deadline else "-")
    choices: list[tuple[str, str]] = []
    if conv.options.wechat_pay:
        choices.append((f"paywx:{order.id}", conv.t("wx.pay.wechat")))
    available = await wallet_available(conv, order.price.currency)
    choices.append((f"paywallet:{order.id}", conv.t("wx.pay.wallet", balance=money(available))))
    if conv.options.sandbox:
        choices.append((f"paysbx:{order.id}", conv.t("wx.pay.sandbox")))
    choices.append((f"act:order.cancel:{order.id}", conv.t("action.order.cancel")))
    conv.ask(head, choices)


async def wallet_available(conv: Conversation, currency: str) -> Money:
    statement = await conv.run(GetStatement(actor_id=conv.user_id, user_id=conv.user_id,
                                            currency=currency, limit=1))
    for balance in statement.balances:
        if balance.currency == currency:
            return balance.wallet_available
    return Money.zero(currency)


async def pay_wechat(conv: Conversation, order_id: int) -> None:
    order = await load(conv, order_id)
    if order is None:
        return
    if order.state is not S.AWAITING_PAYMENT:
        conv.finish()
        conv.tell("wx.pay.not_due", number=order.number, state=conv.t(f"wx.state.{order.state}"))
        return
    instructions = await conv.run(StartPayment(
        actor_id=conv.user_id, idempotency_key=conv.idempotency("pay"),
        customer_id=conv.user_id, gateway="wechat_pay", amount=order.price.deposit,
        purpose="order", order_id=order.id,
        description=conv.t("wx.pay.description", number=order.number),
    ))
    conv.finish()
    conv.tell("wx.pay.scan", number=order.number, amount=money(order.price.deposit))
    conv.image(qr_png(str(instructions.data["code_url"])), f"pay-{order.number}.png")


async def pay_wallet(conv: Conversation, order_id: int) -> None:
    order = await conv.run(PayOrder(actor_id=conv.user_id, idempotency_key=conv.idempotency("pay"),
                                    order_id=order_id, method="wallet"))
    conv.finish()
    conv.tell("wx.pay.done", number=order.number, amount=money(order.price.deposit))


async def pay_sandbox(conv: Conversation, order_id: int) -> None:
    if not conv.options.sandbox:
        conv.tell("wx.pay.unavailable")
        return
    order = await conv.run(PayOrder(
        actor_id=conv.user_id, idempotency_key=conv.idempotency("pay"), order_id=order_id,
        method="sandbox", payment_ref=f"wx-sandbox-{conv.key.removeprefix('wx:')}",
    ))
    conv.finish()
    conv.tell("wx.pay.sandbox_done", number=order.number, amount=money(order.price.deposit))


# -- lists and cards ------------------------------------------------------------------------


async def listing(conv: Conversation, side: str, page: int) -> None:
    conv.finish()
    size = conv.options.page_size
    as_provider = side == "p"
    if as_provider and not conv.actor.is_provider:
        conv.tell("wx.orders.not_provider")
        return
    found = await conv.run(ListOrders(
        customer_id=None if as_provider else conv.user_id,
        provider_id=conv.user_id if as_provider else None,
        limit=size + 1, offset=(page - 1) * size, actor_id=conv.user_id,
    ))
    if not found:
        conv.tell("wx.orders.none" if page == 1 else "wx.browse.no_more")
        return
    choices = [(f"order:{o.id}", line(conv, o)) for o in found[:size]]
    if len(found) > size:
        choices.append((f"orders:{side}:{page + 1}", conv.t("wx.next_page")))
    if not as_provider and conv.actor.is_provider and page == 1:
        choices.append(("orders:p:1", conv.t("wx.orders.switch_provider")))
    conv.ask(conv.t("wx.orders.provider_head" if as_provider else "wx.orders.head"), choices)


def line(conv: Conversation, order: Order) -> str:
    when = (local_time(order.scheduled_start, conv.timezone) if order.scheduled_start
            else conv.t("wx.book.now"))
    return conv.t("wx.orders.line", number=order.number, when=when,
                  total=money(order.price.total), state=conv.t(f"wx.state.{order.state}"))


async def card(conv: Conversation, order_id: int | None = None, number: str | None = None) -> None:
    order = await load(conv, order_id, number)
    if order is None:
        return
    lines = [line(conv, order)]
    if order.address:
        lines.append(conv.t("wx.book.summary_address", address=order.address))
    if order.close_reason:
        lines.append(conv.t("wx.order.reason", reason=order.close_reason))
    party = order.party_of(conv.user_id)
    kinds = (CUSTOMER_ACTIONS if party is not None and party.value == "customer"
             else PROVIDER_ACTIONS if party is not None else {}).get(order.state, ())
    conv.ask("\n".join(lines), [(f"act:{kind}:{order.id}", conv.t(f"action.{kind}"))
                                for kind in kinds])


# -- actions --------------------------------------------------------------------------------


async def accept(conv: Conversation, order_id: int) -> None:
    order = await conv.run(AcceptOrder(actor_id=conv.user_id,
                                       idempotency_key=conv.idempotency(), order_id=order_id))
    conv.finish()
    conv.tell("wx.order.accepted", number=order.number)


async def ask_reject_reason(conv: Conversation, order_id: int) -> None:
    order = await load(conv, order_id)
    if order is None:
        return
    conv.expect("reject.reason", conv.t("wx.order.ask_reject_reason", number=order.number),
                order_id=order_id)


async def reject(conv: Conversation, reason: str) -> None:
    order_id = conv.session.data.get("order_id")
    reason = " ".join(reason.split())[:MAX_REASON]
    if not isinstance(order_id, int) or not reason:
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    order = await conv.run(RejectOrder(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                                       order_id=order_id, reason=reason))
    conv.finish()
    conv.tell("wx.order.rejected", number=order.number)


async def start(conv: Conversation, order_id: int) -> None:
    order = await load(conv, order_id)
    if order is None:
        return
    if order.kind == "on_site" and order.state is S.ACCEPTED:
        conv.expect("start.checkin", conv.t("wx.order.ask_checkin", number=order.number),
                    order_id=order_id)
        return
    order = await conv.run(StartOrder(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                                      order_id=order_id))
    conv.finish()
    conv.tell("wx.order.started", number=order.number)


async def check_in(conv: Conversation, *, place: Place | None = None, photo: str | None = None) -> None:
    order_id = conv.session.data.get("order_id")
    if not isinstance(order_id, int):
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    order = await conv.run(StartOrder(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                                      order_id=order_id, location=place, photo=photo))
    conv.finish()
    conv.tell("wx.order.started", number=order.number)


async def finish(conv: Conversation, order_id: int, code: str | None = None) -> None:
    try:
        order = await conv.run(FinishOrder(actor_id=conv.user_id,
                                           idempotency_key=conv.idempotency(),
                                           order_id=order_id, delivery_code=code))
    except DomainError as error:
        if error.key == "error.order.delivery_code_required":
            conv.expect("finish.code", conv.t("wx.order.ask_code", number=error.params.get("number", "")),
                        order_id=order_id)
            return
        raise
    conv.finish()
    conv.tell("wx.order.finished", number=order.number)


async def finish_with_code(conv: Conversation, code: str) -> None:
    order_id = conv.session.data.get("order_id")
    if not isinstance(order_id, int):
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    await finish(conv, order_id, code.strip())


async def confirm(conv: Conversation, order_id: int) -> None:
    order = await conv.run(ConfirmOrder(actor_id=conv.user_id,
                                        idempotency_key=conv.idempotency(), order_id=order_id))
    conv.finish()
    conv.tell("wx.order.confirmed", number=order.number)


async def cancel_preview(conv: Conversation, order_id: int) -> None:
    """Say what cancelling costs before anything happens; cancel only on "confirm"."""
    order = await load(conv, order_id)
    if order is None:
        return
    party = order.party_of(conv.user_id)
    if party is not None and party.value == "provider":
        head = conv.t("wx.cancel.provider", number=order.number)
    elif order.state is S.ACCEPTED and order.paid_at is not None:
        policy = await conv.run(GetCategoryPolicy(category_id=order.category_id))
        held = order.price.deposit
        fee = policy.cancellation_fee(held, order.scheduled_start, conv.now)
        head = (conv.t("wx.cancel.fee", number=order.number, fee=money(fee),
                       refund=money(held - fee))
                if fee.is_positive() else conv.t("wx.cancel.free_refund", number=order.number,
                                                 refund=money(held)))
    elif order.paid_at is not None and order.state is S.PENDING_ACCEPTANCE:
        head = conv.t("wx.cancel.free_refund", number=order.number, refund=money(order.price.deposit))
    else:
        head = conv.t("wx.cancel.free", number=order.number)
    conv.ask(head, [(f"cancelok:{order_id}", conv.t("wx.cancel.confirm")),
                    (f"order:{order_id}", conv.t("wx.cancel.keep"))])


async def cancel(conv: Conversation, order_id: int) -> None:
    order = await conv.run(CancelOrder(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                                       order_id=order_id))
    conv.finish()
    refund = order.refund
    conv.tell("wx.cancel.done", number=order.number,
              refund=money(refund) if refund is not None else "-")


async def ask_dispute(conv: Conversation, order_id: int) -> None:
    order = await load(conv, order_id)
    if order is None:
        return
    conv.expect("dispute.reason", conv.t("wx.dispute.ask_reason", number=order.number),
                order_id=order_id)


async def dispute(conv: Conversation, reason: str) -> None:
    order_id = conv.session.data.get("order_id")
    reason = " ".join(reason.split())[:MAX_REASON]
    if not isinstance(order_id, int) or not reason:
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    order = await conv.run(OpenDispute(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                                       order_id=order_id, reason=reason))
    conv.finish()
    conv.tell("wx.dispute.opened", number=order.number)


async def ask_dispute_response(conv: Conversation, order_id: int) -> None:
    order = await load(conv, order_id)
    if order is None:
        return
    conv.expect("dispute.response", conv.t("wx.dispute.ask_response", number=order.number),
                order_id=order_id)


async def respond_dispute(conv: Conversation, text: str) -> None:
    order_id = conv.session.data.get("order_id")
    text = " ".join(text.split())[:MAX_REASON]
    if not isinstance(order_id, int) or not text:
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    order = await conv.run(RespondToDispute(actor_id=conv.user_id,
                                            idempotency_key=conv.idempotency(),
                                            order_id=order_id, response=text))
    conv.finish()
    conv.tell("wx.dispute.responded", number=order.number)


async def answer_reschedule(conv: Conversation, order_id: int, agree: bool) -> None:
    order = await conv.run(AnswerReschedule(actor_id=conv.user_id,
                                            idempotency_key=conv.idempotency(),
                                            order_id=order_id, agree=agree))
    conv.finish()
    conv.tell("wx.reschedule.agreed" if agree else "wx.reschedule.declined", number=order.number)
