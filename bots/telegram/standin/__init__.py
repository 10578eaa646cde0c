"""A local Telegram Bot API server: real HTTP on 127.0.0.1, validated against the spec.

The bot under test (aiogram pointed at ``base_url``) talks to it exactly as to
api.telegram.org; simulated users talk to the bot through it; tests and the demo page
watch every chat and every API call. See ``docs/telegram-standin.md``.

    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
        bot = Bot(standin.token, session=AiohttpSession(
            api=TelegramAPIServer.from_base(standin.base_url)))
        alice = standin.create_user("Alice", username="alice", language_code="zh")
        await alice.start("ref_42")
        reply = await alice.next_message()
"""

from bots.telegram.standin.errors import BotApiError, SimulationError
from bots.telegram.standin.methods import implemented_methods
from bots.telegram.standin.ratelimit import RateLimits
from bots.telegram.standin.server import DEFAULT_TOKEN, BotApiStandIn
from bots.telegram.standin.simulation import CallbackTap, PaymentResult, SimGroup, SimUser
from bots.telegram.standin.spec import SPEC_ENV_VAR, ApiSpec, default_spec_path
from bots.telegram.standin.webhook import SECRET_HEADER, WebhookDelivery
from bots.telegram.standin.world import ApiCall, BotWorld, ChatEvent

__all__ = [
    "DEFAULT_TOKEN",
    "SECRET_HEADER",
    "SPEC_ENV_VAR",
    "ApiCall",
    "ApiSpec",
    "BotApiError",
    "BotApiStandIn",
    "BotWorld",
    "CallbackTap",
    "ChatEvent",
    "PaymentResult",
    "RateLimits",
    "SimGroup",
    "SimUser",
    "SimulationError",
    "WebhookDelivery",
    "default_spec_path",
    "implemented_methods",
]
