"""The composition root: the one place that wires core, storage, bots and the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from core import handlers as core_handlers
from core.booking.directory import CatalogDirectory
from core.booking.payments import WalletPayments
from core.booking.policy import StrikeRules
from core.identity.policy import IdentityPolicy
from core.messagebus import MessageBus
from core.relay.pending import PendingPolicy
from core.relay.policy import RelayPolicy
from core.relay.routes import RouteCache
from core.reviews.policy import ReviewPolicy
from core.shared.clock import Clock, SystemClock
from core.wallet.gateways import ManualPayouts, PaymentGateways, SandboxGateway
from core.wallet.policy import WalletPolicy
from storage.db import create_engine
from storage.repositories.booking import busy_cache, use_busy_cache
from storage.repositories.catalog import browse_cache, use_browse_cache
from storage.repositories.identity import FernetCipher, use_cipher
from storage.repositories.relay import journal_for
from storage.uow import SqlUnitOfWork, unit_of_work_factory


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    uow_factory: Callable[[], SqlUnitOfWork]
    bus: MessageBus
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        journal = self.bus.dependencies.get("relay_journal")
        if journal is not None:
            await journal.close()  # the relay's last delivered copies
        await self.engine.dispose()


def build_gateways(settings: Settings) -> PaymentGateways:
    """The payment gateways this deployment offers (see core/wallet/gateways.py)."""
    gateways = PaymentGateways([ManualPayouts()])
    sandbox = settings.sandbox_payments if settings.sandbox_payments is not None else settings.is_demo
    if sandbox:
        gateways.register(SandboxGateway())
    if settings.wechat_pay_mch_id and settings.wechat_app_id and settings.wechat_pay_api_key:
        from bots.wechat.pay import WeChatPayGateway

        gateways.register(WeChatPayGateway(
            app_id=settings.wechat_app_id,
            mch_id=settings.wechat_pay_mch_id,
            api_key=settings.wechat_pay_api_key.get_secret_value(),
            notify_url=settings.wechat_pay_notify_url or "",
            api_base=settings.wechat_pay_api_base,
            client_ip=settings.wechat_pay_client_ip,
            cert_path=settings.wechat_pay_cert_path,
            key_path=settings.wechat_pay_key_path,
        ))
    return gateways


def build_dependencies(settings: Settings, clock: Clock) -> dict[str, Any]:
    """What handlers may ask for by parameter name. Areas add their policies and ports."""
    dependencies: dict[str, Any] = {"clock": clock}
    dependencies["identity_policy"] = IdentityPolicy(
        default_locale=settings.default_locale, default_timezone=settings.default_timezone
    )
    dependencies["review_policy"] = ReviewPolicy(
        edit_window=timedelta(hours=settings.review_edit_hours)
    )
    dependencies["provider_idle_minutes"] = settings.provider_idle_minutes
    # booking: identity and catalog through the directory, money through the wallet api
    dependencies["directory"] = CatalogDirectory()
    dependencies["payments"] = WalletPayments()
    # wallet: its rules, and the gateways (the Telegram adapter registers its own at start)
    dependencies["wallet_policy"] = WalletPolicy(
        settlement_days=settings.settlement_days,
        tip_commission_bps=settings.tip_commission_bps,
        withdrawal_fee_bps=settings.withdrawal_fee_bps,
        withdrawal_min=dict(settings.withdrawal_min),
        withdrawal_daily_limit=dict(settings.withdrawal_daily_limit),
    )
    dependencies["payment_gateways"] = build_gateways(settings)
    dependencies["strike_rules"] = StrikeRules(
        provider_suspend_at=settings.booking_provider_suspend_strikes,
        customer_ban_at=settings.booking_customer_ban_strikes,
    )
    dependencies["relay_policy"] = RelayPolicy(
        close_after=timedelta(hours=settings.relay_close_after_hours),
        leak_warnings=settings.relay_leak_warnings,
        strikes_per_message=settings.relay_strikes_per_message,
        ban_at_strikes=settings.relay_ban_at_strikes,
        ban_days=settings.relay_ban_days,
    )
    dependencies["relay_queue_policy"] = PendingPolicy(
        max_age=timedelta(days=settings.relay_queue_days))
    return dependencies


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: AsyncEngine | None = None,
    overrides: dict[str, Any] | None = None,
) -> Runtime:
    clock = clock or SystemClock()
    engine = engine or create_engine(settings.database_url)
    # Phone numbers are encrypted in storage; the key is read at first use.
    use_cipher(engine, FernetCipher(settings.effective_encryption_key))
    # Calendars' busy times and browsing pages are kept a few seconds per engine; on SQLite
    # that needs each transaction's start watched, set up here before the engine runs one.
    use_busy_cache(engine, busy_cache(engine))
    use_browse_cache(engine, browse_cache(engine))
    uow_factory = unit_of_work_factory(engine, clock)
    dependencies = build_dependencies(settings, clock)
    # The relay's hot path: routes remembered, transcript and copies written in batches
    # (PostgreSQL; a remembered route is only as good as the journal's version check).
    relay_journal = journal_for(engine)
    dependencies["relay_journal"] = relay_journal
    dependencies["relay_routes"] = RouteCache() if relay_journal is not None else None
    dependencies.update(overrides or {})
    bus = MessageBus(
        uow_factory, core_handlers.COMMAND_HANDLERS, core_handlers.EVENT_HANDLERS, dependencies,
        read_uow_factory=unit_of_work_factory(engine, clock, read_only=True),
    )
    return Runtime(settings, engine, clock, uow_factory, bus)
