"""The person's own corner in WeChat: welcome and help, "me", the wallet and top-ups, language,
going online or offline (providers), linking with Telegram, and the operator's application
cards.

Linking: "绑定码" issues a one-time code to type into the Telegram bot; "绑定 ABCD2345"
redeems a code issued on Telegram, attaching this WeChat account to that user (the core
decides whether the two may be merged).
"""

from __future__ import annotations

from bots.i18n import gettext
from bots.wechat.conversation import Conversation
from bots.wechat.pay import qr_png
from bots.wechat.render import local_time, money
from core.catalog.commands import (
    ApproveApplication,
    GetApplication,
    GetProvider,
    RejectApplication,
    SetPresence,
)
from core.identity.commands import IssueLinkCode, RedeemLinkCode, SetLocale
from core.shared.errors import NotFound
from core.shared.money import Money
from core.wallet.commands import ConfirmPayment, GetStatement, StartPayment

MAX_REASON = 300
LANGUAGES = (("zh", "中文"), ("en", "English"))


def welcome(conv: Conversation) -> None:
    conv.finish()
    conv.tell("wx.welcome", name=conv.actor.display_name)


def help_text(conv: Conversation) -> None:
    conv.finish()
    conv.tell("wx.help")


async def me(conv: Conversation) -> None:
    conv.finish()
    roles = "、".join(conv.t(f"wx.role.{role}") for role in sorted(conv.actor.roles)) or "-"
    lines = [conv.t("wx.me.card", name=conv.actor.display_name, user_id=conv.user_id,
                    roles=roles, language=dict(LANGUAGES).get(conv.locale, conv.locale),
                    zone=conv.timezone)]
    choices = [("wallet", conv.t("wx.me.wallet")), ("linkcode", conv.t("wx.me.link")),
               ("lang", conv.t("wx.me.language"))]
    details = None
    if conv.actor.is_provider:
        try:
            details = await conv.run(GetProvider(provider_id=conv.user_id))
        except NotFound:
            details = None  # the role without a profile yet (granted by an operator)
    if details is not None:
        presence = str(details.profile.presence)
        lines.append(conv.t("wx.me.presence", presence=conv.t(f"wx.presence.{presence}")))
        if presence == "online":
            choices.append(("presence:offline", conv.t("wx.me.go_offline")))
        else:
            choices.append(("presence:online", conv.t("wx.me.go_online")))
        choices.append(("orders:p:1", conv.t("wx.orders.switch_provider")))
    conv.ask("\n".join(lines), choices)


async def wallet(conv: Conversation) -> None:
    conv.finish()
    statement = await conv.run(GetStatement(actor_id=conv.user_id, user_id=conv.user_id, limit=5))
    lines = [conv.t("wx.wallet.head")]
    if not statement.balances:
        lines.append(conv.t("wx.wallet.line", available=money(Money.zero(conv.options.currency)),
                            held=money(Money.zero(conv.options.currency))))
    for balance in statement.balances:
        lines.append(conv.t("wx.wallet.line", available=money(balance.wallet_available),
                            held=money(balance.wallet_held)))
        if conv.actor.is_provider:
            lines.append(conv.t("wx.wallet.earnings", pending=money(balance.earnings_pending),
                                available=money(balance.earnings_available)))
    choices = []
    if conv.options.wechat_pay or conv.options.sandbox:
        choices = [(f"topup:{amount}", conv.t("wx.wallet.topup",
                                             amount=money(Money(amount, conv.options.currency))))
                   for amount in conv.options.top_up_amounts]
    conv.ask("\n".join(lines), choices)


async def top_up(conv: Conversation, amount: int) -> None:
    if not 100 <= amount <= 5_000_000:
        conv.tell("wx.wallet.topup_invalid")
        return
    value = Money(amount, conv.options.currency)
    gateway = "wechat_pay" if conv.options.wechat_pay else "sandbox" if conv.options.sandbox else None
    if gateway is None:
        conv.tell("wx.pay.unavailable")
        return
    instructions = await conv.run(StartPayment(
        actor_id=conv.user_id, idempotency_key=conv.idempotency("topup"), customer_id=conv.user_id,
        gateway=gateway, amount=value, purpose="topup",
        description=conv.t("wx.wallet.topup_description"),
    ))
    conv.finish()
    if gateway == "sandbox":
        # The demo's test gateway pays at once, and says so.
        await conv.run(ConfirmPayment(
            idempotency_key=conv.idempotency("topup-confirm"), gateway="sandbox",
            payment_ref=instructions.payment_ref, amount=amount, currency=value.currency,
            purpose="topup",
        ))
        conv.tell("wx.wallet.topup_sandbox_done", amount=money(value))
        return
    conv.tell("wx.wallet.topup_scan", amount=money(value))
    conv.image(qr_png(str(instructions.data["code_url"])), "top-up.png")


async def language(conv: Conversation) -> None:
    conv.ask(conv.t("wx.language.choose"), [(f"setlang:{code}", name) for code, name in LANGUAGES])


async def set_language(conv: Conversation, code: str) -> None:
    user = await conv.run(SetLocale(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                                    user_id=conv.user_id, locale=code.strip().lower()))
    conv.actors.forget(conv.openid)
    conv.finish()
    # Answered in the language just chosen.
    conv.say(gettext("wx.language.changed", user.locale))


async def set_presence(conv: Conversation, presence: str) -> None:
    if not conv.actor.is_provider:
        conv.tell("wx.orders.not_provider")
        return
    await conv.run(SetPresence(actor_id=conv.user_id, idempotency_key=conv.idempotency(),
                               provider_id=conv.user_id, presence=presence))
    conv.finish()
    conv.tell("wx.me.presence_set", presence=conv.t(f"wx.presence.{presence}"))


async def issue_link_code(conv: Conversation) -> None:
    issued = await conv.run(IssueLinkCode(actor_id=conv.user_id, user_id=conv.user_id))
    conv.finish()
    conv.tell("wx.link.code", code=issued.code,
              expires=local_time(issued.expires_at, conv.timezone))


async def redeem_link_code(conv: Conversation, code: str) -> None:
    user = await conv.run(RedeemLinkCode(
        actor_id=conv.user_id, idempotency_key=conv.idempotency(), code=code,
        platform="wechat", external_id=conv.openid, chat_id=conv.openid,
    ))
    # The account may now belong to another user: look it up afresh next time.
    conv.actors.forget(conv.openid)
    conv.finish()
    conv.say(gettext("wx.link.done", user.locale))


# -- operators ------------------------------------------------------------------------------


async def approve_application(conv: Conversation, application_id: int) -> None:
    profile = await conv.run(ApproveApplication(
        actor_id=conv.user_id, idempotency_key=conv.idempotency(), application_id=application_id))
    conv.finish()
    conv.tell("wx.application.approved", application_id=application_id,
              name=profile.display_name)


async def ask_application_reason(conv: Conversation, application_id: int) -> None:
    conv.expect("application.reason",
                conv.t("wx.application.ask_reason", application_id=application_id),
                application_id=application_id)


async def reject_application(conv: Conversation, reason: str) -> None:
    application_id = conv.session.data.get("application_id")
    reason = " ".join(reason.split())[:MAX_REASON]
    if not isinstance(application_id, int) or not reason:
        conv.finish()
        conv.tell("wx.flow.expired")
        return
    application = await conv.run(RejectApplication(
        actor_id=conv.user_id, idempotency_key=conv.idempotency(),
        application_id=application_id, reason=reason))
    conv.finish()
    conv.tell("wx.application.rejected", application_id=application.id)


async def show_application(conv: Conversation, application_id: int) -> None:
    application = await conv.run(GetApplication(actor_id=conv.user_id,
                                                application_id=application_id))
    profile = application.profile
    conv.ask(
        conv.t("wx.application.card", application_id=application.id,
               name=profile.display_name, user_id=application.user_id,
               offers=len(application.offers), documents=len(application.documents),
               status=str(application.status)),
        [(f"act:application.approve:{application.id}", conv.t("catalog.action.approve")),
         (f"act:application.reject:{application.id}", conv.t("catalog.action.reject"))],
    )
