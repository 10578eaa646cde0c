"""Settings from the environment (prefix `YUEBAN_`) and an optional `.env` file.

Secrets are `SecretStr`. Outside demo mode a missing or placeholder secret for an enabled
channel is refused at start, with a message naming the setting (see `Settings.check_secrets`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {
    "", "changeme", "change-me", "change_me", "changethis", "placeholder", "secret",
    "your-token", "your_token", "token", "xxx", "todo", "test", "example",
}

# A fixed key so demo data (encrypted phone numbers) survives restarts; never used in production.
DEMO_ENCRYPTION_KEY = "ZGVtby1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="


class ConfigurationError(Exception):
    """The settings cannot start the platform; the message names the setting to fix."""


class Settings(BaseSettings):
    # An empty variable (`YUEBAN_WECHAT_APP_ID=` left in a .env) means "not set", not "".
    model_config = SettingsConfigDict(
        env_prefix="YUEBAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        env_ignore_empty=True,
    )

    mode: Literal["production", "demo"] = Field(
        "production", description="`demo` allows built-in secrets and the sandbox gateway."
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./yueban.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    redis_url: str | None = Field(
        None, description="Redis for shared FSM, dedup, rate limits and locks; off when empty."
    )
    http_host: str = Field("127.0.0.1", description="Address every HTTP endpoint binds to.")
    http_port: int = Field(8080, description="Port every HTTP endpoint binds to.")
    http_workers: int = Field(
        1, ge=1, description="Processes `yueban run` serves with, all on the one port "
        "(SO_REUSEPORT); more than 1 needs PostgreSQL, Redis and a Telegram webhook.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    default_locale: Literal["zh", "en"] = Field("zh", description="Locale for new users.")
    default_timezone: str = Field("Asia/Shanghai", description="Time zone for new users.")
    review_edit_hours: int = Field(
        48, ge=0, le=24 * 90, description="Hours after writing it that a review may be edited."
    )
    encryption_key: SecretStr | None = Field(
        None,
        description="Fernet key (urlsafe base64, 32 bytes) encrypting phone numbers at rest.",
    )

    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather.")
    telegram_api_base: str = Field(
        "https://api.telegram.org", description="Bot API server (a local stand-in in the demo)."
    )
    telegram_webhook_url: str | None = Field(
        None, description="Public webhook URL; long polling when empty."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="Secret checked in X-Telegram-Bot-Api-Secret-Token (webhook mode)."
    )
    telegram_admin_chat_id: int | None = Field(
        None, description="Operator group chat id for applications, disputes, withdrawals."
    )
    telegram_messages_per_second: float = Field(
        30.0,
        gt=0,
        description="Outbound pace of the bot across all chats (Telegram allows about 30/s).",
    )
    telegram_user_updates_per_second: float = Field(
        3.0, gt=0, description="Updates one Telegram user may send per second before throttling."
    )
    telegram_user_updates_burst: int = Field(
        10, ge=1, description="Updates one Telegram user may send at once before throttling."
    )
    telegram_payment_provider_token: SecretStr | None = Field(
        None,
        description="Payment provider token from @BotFather for card invoices in CNY/USD; "
        "Telegram Stars need none.",
    )

    wechat_app_id: str | None = Field(None, description="Official account AppID.")
    wechat_app_secret: SecretStr | None = Field(None, description="Official account AppSecret.")
    wechat_token: SecretStr | None = Field(None, description="Webhook signature token.")
    wechat_aes_key: SecretStr | None = Field(
        None, description="EncodingAESKey; plaintext mode when empty."
    )
    wechat_api_base: str = Field(
        "https://api.weixin.qq.com", description="WeChat API server (a local stand-in in tests)."
    )
    wechat_template_id: str | None = Field(
        None,
        description="Template for notices outside the 48-hour window (keys thing1, "
        "character_string2, time3, thing4); without it such notices are reported undelivered.",
    )
    wechat_pay_mch_id: str | None = Field(None, description="WeChat Pay merchant id.")
    wechat_pay_api_key: SecretStr | None = Field(None, description="WeChat Pay v2 API key.")
    wechat_pay_api_base: str = Field(
        "https://api.mch.weixin.qq.com", description="WeChat Pay API server."
    )
    wechat_pay_notify_url: str | None = Field(
        None, description="Public URL of POST /pay/wechat/notify that WeChat Pay calls back."
    )
    wechat_pay_cert_path: str | None = Field(
        None, description="Merchant API certificate (PEM) for WeChat Pay refunds."
    )
    wechat_pay_key_path: str | None = Field(
        None, description="Merchant API private key (PEM) for WeChat Pay refunds."
    )
    wechat_pay_client_ip: str = Field(
        "127.0.0.1", description="This server's IP, sent as spbill_create_ip to WeChat Pay."
    )

    sandbox_payments: bool | None = Field(
        None, description="Offer the sandbox (test) payment gateway; by default only in demo mode."
    )
    settlement_days: int = Field(
        7, ge=0, le=365, description="Days before a provider's earnings may be withdrawn."
    )
    tip_commission_bps: int = Field(
        0, ge=0, le=10_000, description="Platform commission on tips, in basis points."
    )
    withdrawal_fee_bps: int = Field(
        100, ge=0, lt=10_000, description="Fee on each withdrawal, in basis points."
    )
    withdrawal_min: dict[str, int] = Field(
        default_factory=lambda: {"CNY": 1_000, "USD": 500, "XTR": 1_000},
        description='Smallest withdrawal per currency in minor units, JSON: {"CNY": 1000}.',
    )
    withdrawal_daily_limit: dict[str, int] = Field(
        default_factory=lambda: {"CNY": 5_000_000, "USD": 500_000, "XTR": 1_000_000},
        description="Most a provider may withdraw per 24 hours per currency, in minor units.",
    )

    booking_provider_suspend_strikes: int = Field(
        3, ge=1, description="Strikes (expired, cancelled, no-show) that suspend a provider."
    )
    booking_customer_ban_strikes: int = Field(
        5, ge=1, description="Strikes (no-shows, late cancellations) that ban a customer."
    )
    booking_sweep_interval_s: float = Field(
        15.0, gt=0, description="Seconds between sweeps of due order timers."
    )
    booking_sweep_batch: int = Field(
        200, ge=1, description="Most due orders one sweep works through."
    )

    provider_idle_minutes: int = Field(
        30, ge=1, description="Minutes without activity after which an online provider goes offline."
    )

    relay_close_after_hours: int = Field(
        24, ge=0, description="Hours an order's chat stays open after the order ends."
    )
    relay_leak_warnings: int = Field(
        0, ge=0, description="Messages with contact details per chat that only earn a warning."
    )
    relay_strikes_per_message: int = Field(
        1, ge=0, description="Most strikes one relayed message with contact details earns (0: none)."
    )
    relay_ban_at_strikes: int = Field(
        0, ge=0, description="Ban a sender of contact details at this many strikes (0: never)."
    )
    relay_ban_days: int = Field(
        7, ge=0, description="Length of that ban in days (0: until an operator lifts it)."
    )
    relay_protect_content: bool = Field(
        False, description="Relayed Telegram copies cannot be forwarded or saved by the recipient."
    )
    relay_queue_days: int = Field(
        7, ge=1, description="Days a message waits for a WeChat recipient's window before its "
                             "sender is told it was not delivered."
    )

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_token is not None

    @property
    def wechat_enabled(self) -> bool:
        return self.wechat_app_id is not None

    def check_secrets(self) -> None:
        """Refuse to start with a missing or placeholder secret (demo mode excepted)."""
        if self.is_demo:
            return
        required: list[tuple[str, SecretStr | None]] = [
            ("YUEBAN_ENCRYPTION_KEY", self.encryption_key)
        ]
        if self.telegram_enabled:
            required.append(("YUEBAN_TELEGRAM_TOKEN", self.telegram_token))
            if self.telegram_webhook_url:
                required.append(("YUEBAN_TELEGRAM_WEBHOOK_SECRET", self.telegram_webhook_secret))
        if self.wechat_enabled:
            required.append(("YUEBAN_WECHAT_APP_SECRET", self.wechat_app_secret))
            required.append(("YUEBAN_WECHAT_TOKEN", self.wechat_token))
        if self.wechat_pay_mch_id:
            required.append(("YUEBAN_WECHAT_PAY_API_KEY", self.wechat_pay_api_key))
        for name, secret in required:
            if secret is None:
                raise ConfigurationError(f"{name} is not set")
            if secret.get_secret_value().strip().lower() in PLACEHOLDERS:
                raise ConfigurationError(f"{name} is a placeholder; set a real secret")

    def effective_encryption_key(self) -> str:
        if self.encryption_key is not None:
            return self.encryption_key.get_secret_value()
        if self.is_demo:
            return DEMO_ENCRYPTION_KEY
        raise ConfigurationError("YUEBAN_ENCRYPTION_KEY is not set")
