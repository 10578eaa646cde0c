"""Tencent's published encryption sample must decrypt through our webhook's decrypt path."""

from __future__ import annotations

from aiohttp import ClientSession
from wechatpy.crypto import WeChatCrypto

from bots.wechat.standin import LocalServer
from bots.wechat.webhook import WeChatWebhook, signature_of
from tests.adapters.wechat.conftest import Recorder

# From Tencent's WXBizMsgCrypt sample (the message-decryption example).
TOKEN = "QDG6eK"
ENCODING_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_ID = "wx5823bf96d3bd56c7"
MSG_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
TIMESTAMP = "1409659813"
NONCE = "1372623149"
ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qc"
    "zcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs"
    "8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4z"
    "G4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS"
    "0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAV"
    "e0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
PLAINTEXT = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)
BODY = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
    f"<Encrypt><![CDATA[{ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
)


def test_the_published_msg_signature_covers_the_published_ciphertext() -> None:
    assert signature_of(TOKEN, TIMESTAMP, NONCE, ENCRYPT) == MSG_SIGNATURE


def test_the_published_ciphertext_decrypts_to_the_published_plaintext() -> None:
    crypto = WeChatCrypto(TOKEN, ENCODING_AES_KEY, APP_ID)
    assert crypto.decrypt_message(BODY, MSG_SIGNATURE, TIMESTAMP, NONCE) == PLAINTEXT


async def test_the_webhook_accepts_the_published_push_and_hands_over_its_message() -> None:
    recorder = Recorder()
    webhook = WeChatWebhook(
        token=TOKEN, app_id=APP_ID, encoding_aes_key=ENCODING_AES_KEY, on_message=recorder,
        clock=lambda: float(TIMESTAMP),  # the sample is from 2014; freeze time there
    )
    query = {
        "signature": signature_of(TOKEN, TIMESTAMP, NONCE),
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
        "encrypt_type": "aes",
        "msg_signature": MSG_SIGNATURE,
    }
    async with LocalServer(webhook.make_app()) as server, ClientSession() as http:
        async with http.post(server.base_url + "wechat", params=query, data=BODY) as resp:
            assert (resp.status, await resp.text()) == (200, "success")
        await recorder.wait_for(1)

    inbound = recorder.received[0]
    assert inbound.openid == "mycreate"
    assert inbound.message.content == "hello"
    assert inbound.message.id == 4561255354251345929
    assert inbound.dedup_key == f"{APP_ID}:msg:4561255354251345929"
