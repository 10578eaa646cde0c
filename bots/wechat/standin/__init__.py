"""A local WeChat for tests and demos: the API side (`WeChatStandIn`) and the driver side
(`WeChatDriver`, posting pushes and pay notifies the way WeChat does), over real HTTP."""

from bots.wechat.standin.api import ApiCall, Media, PayOrder, SentMessage, WeChatStandIn
from bots.wechat.standin.driver import Attempt, Delivery, NotifyReport, WeChatDriver
from bots.wechat.standin.paysign import Forgery
from bots.wechat.standin.server import LocalServer

__all__ = [
    "ApiCall",
    "Attempt",
    "Delivery",
    "Forgery",
    "LocalServer",
    "Media",
    "NotifyReport",
    "PayOrder",
    "SentMessage",
    "WeChatDriver",
    "WeChatStandIn",
]
