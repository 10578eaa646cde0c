"""The webhook edge, driven over real HTTP by the stand-in's driver."""

from __future__ import annotations

import asyncio

import pytest
from wechatpy.replies import TextReply

from bots.wechat.standin import LocalServer, WeChatStandIn
from bots.wechat.webhook import DeliveryMode, InboundMessage, WeChatWebhook
from tests.adapters.wechat.conftest import AES_KEY, TOKEN, Recorder, ServeWebhook

ENCRYPTED_MODES = [DeliveryMode.COMPATIBLE, DeliveryMode.SAFE]
ALL_MODES = [DeliveryMode.PLAINTEXT, *ENCRYPTED_MODES]

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>o1</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>o1</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content><MsgId>2</MsgId></xml>"""


def key_for(mode: DeliveryMode) -> str | None:
    return None if mode is DeliveryMode.PLAINTEXT else AES_KEY


async def test_url_verification_echoes_echostr_only_with_a_valid_signature(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    _, url = await serve_webhook()
    driver = standin.driver(url, token=TOKEN)

    assert await driver.verify_url("4711echo") == (200, "4711echo")
    status, body = await driver.verify_url("4711echo", good_signature=False)
    assert status == 403
    assert "4711echo" not in body


@pytest.mark.parametrize("mode", ALL_MODES, ids=str)
async def test_each_mode_delivers_text_and_events_to_the_callback(
    mode: DeliveryMode, standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    _, url = await serve_webhook(encoding_aes_key=key_for(mode), on_message=recorder)
    driver = standin.driver(url, token=TOKEN, encoding_aes_key=key_for(mode))

    sent = [
        await driver.deliver(driver.text("oUser1", "我想约陪玩 tonight"), mode=mode),
        await driver.deliver(driver.image("oUser1", "http://img/1.jpg", "MEDIA1"), mode=mode),
        await driver.deliver(driver.voice("oUser1", "VOICE1", recognition="你好"), mode=mode),
        await driver.deliver(driver.location("oUser1", 31.2304, 121.4737, label="外滩"),
                             mode=mode),
        await driver.deliver(driver.subscribe("oUser2", scene="invite42"), mode=mode),
        await driver.deliver(driver.click("oUser2", "MENU_BROWSE"), mode=mode),
    ]
    assert [d.body for d in sent] == ["success"] * 6
    await recorder.wait_for(6)

    by_type = {(m.message.type, getattr(m.message, "event", None)): m for m in recorder.received}
    assert by_type[("text", None)].message.content == "我想约陪玩 tonight"
    assert by_type[("image", None)].message.media_id == "MEDIA1"
    assert by_type[("voice", None)].message.recognition == "你好"
    assert by_type[("location", None)].fields["Label"] == "外滩"
    assert by_type[("event", "subscribe_scan")].message.scene_id == "invite42"
    assert by_type[("event", "click")].message.key == "MENU_BROWSE"
    assert {m.mode for m in recorder.received} == {mode}


async def test_a_msgmenu_tap_arrives_with_its_choice_id(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    _, url = await serve_webhook(on_message=recorder)
    driver = standin.driver(url, token=TOKEN)

    await driver.deliver(driver.text("oUser1", "Accept order 42", bizmsgmenuid="accept:42"))
    await recorder.wait_for(1)

    assert recorder.received[0].fields["bizmsgmenuid"] == "accept:42"


@pytest.mark.parametrize("mode", ALL_MODES, ids=str)
async def test_a_bad_signature_gets_403_and_nothing_is_processed(
    mode: DeliveryMode, standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    webhook, url = await serve_webhook(encoding_aes_key=key_for(mode), on_message=recorder)
    driver = standin.driver(url, token=TOKEN, encoding_aes_key=key_for(mode))

    delivery = await driver.deliver(driver.text("oUser1", "hi"), mode=mode, good_signature=False)

    assert delivery.status == 403
    assert len(delivery.attempts) == 1  # a 4xx is final, like WeChat
    await asyncio.sleep(0.05)
    assert recorder.received == []
    assert webhook.pending == 0


async def test_a_tampered_ciphertext_is_refused_even_with_a_good_query_signature(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    _, url = await serve_webhook(encoding_aes_key=AES_KEY, on_message=recorder)
    driver = standin.driver(url, token=TOKEN, encoding_aes_key=AES_KEY)
    query, body = driver.render(driver.text("oUser1", "hi"), DeliveryMode.SAFE)

    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    status, _ = await driver.post_raw(tampered, query=query)

    assert status == 403
    await asyncio.sleep(0.05)
    assert recorder.received == []


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS, b"<xml><unclosed>", b"not xml"],
                         ids=["xxe", "billion-laughs", "malformed", "garbage"])
async def test_hostile_or_malformed_xml_gets_400_and_nothing_is_processed(
    payload: bytes, standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    webhook, url = await serve_webhook(on_message=recorder)
    driver = standin.driver(url, token=TOKEN)

    status, _ = await driver.post_raw(payload)

    assert status == 400
    await asyncio.sleep(0.05)
    assert recorder.received == []
    assert webhook.stats.accepted == 0


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
async def test_hostile_xml_inside_valid_ciphertext_gets_400(
    payload: bytes, standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    """A sender holding the key still cannot smuggle entities through the decrypt path."""
    from wechatpy.crypto import WeChatCrypto

    from bots.wechat.webhook import signature_of

    recorder = Recorder()
    _, url = await serve_webhook(encoding_aes_key=AES_KEY, on_message=recorder)
    driver = standin.driver(url, token=TOKEN, encoding_aes_key=AES_KEY)
    query = driver.signed_query()
    crypto = WeChatCrypto(TOKEN, AES_KEY, standin.app_id)
    envelope = crypto.encrypt_message(payload.decode(), query["nonce"], query["timestamp"])
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    query.update(encrypt_type="aes",
                 msg_signature=signature_of(TOKEN, query["timestamp"], query["nonce"], encrypt))
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"

    status, _ = await driver.post_raw(body.encode(), query=query)

    assert status == 400
    await asyncio.sleep(0.05)
    assert recorder.received == []


async def test_a_retried_message_reaches_the_callback_once(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    webhook, url = await serve_webhook(on_message=recorder)
    driver = standin.driver(url, token=TOKEN)
    message = driver.text("oUser1", "book a coach for 8pm")

    deliveries = [await driver.deliver(message) for _ in range(4)]

    assert [d.body for d in deliveries] == ["success"] * 4
    await webhook.drain()
    assert len(recorder.received) == 1
    assert webhook.stats.duplicates == 3


async def test_a_slow_answer_makes_the_driver_retry_with_the_same_msgid_and_still_one_effect(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()

    async def slow_reply(_inbound: InboundMessage) -> None:
        await asyncio.sleep(0.3)  # longer than the driver waits: it must retry

    webhook, url = await serve_webhook(on_message=recorder, quick_reply=slow_reply,
                                       quick_reply_timeout_seconds=2.0)
    driver = standin.driver(url, token=TOKEN, timeout_seconds=0.1)

    delivery = await driver.deliver(driver.text("oUser1", "hello?"))

    assert delivery.attempts[0].status is None  # timed out
    assert delivery.status == 200
    await asyncio.sleep(0.35)  # let the first, abandoned request finish on the server
    await webhook.drain()
    assert len(recorder.received) == 1
    assert recorder.received[0].message.id == int(delivery.msg_id or 0)


async def test_events_are_deduplicated_by_sender_time_and_event(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    webhook, url = await serve_webhook(on_message=recorder)
    driver = standin.driver(url, token=TOKEN)
    click = driver.click("oUser1", "MENU_ORDERS")
    other_user = {**click, "FromUserName": "oUser2"}
    other_event = {**click, "Event": "subscribe"}

    for fields in (click, click, other_user, other_event, other_user):
        await driver.deliver(fields)

    await webhook.drain()
    assert len(recorder.received) == 3


async def test_a_quick_passive_reply_is_returned_and_encrypted_in_encrypted_mode(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    async def reply(inbound: InboundMessage) -> TextReply:
        return TextReply(content=f"收到: {inbound.message.content}")

    _, url = await serve_webhook(encoding_aes_key=AES_KEY, quick_reply=reply)
    driver = standin.driver(url, token=TOKEN, encoding_aes_key=AES_KEY)

    delivery = await driver.deliver(driver.text("oUser9", "ping"))

    assert "ping" not in delivery.body  # the reply travelled encrypted
    assert delivery.reply is not None
    assert delivery.reply["Content"] == "收到: ping"
    assert delivery.reply["ToUserName"] == "oUser9"


async def test_a_stale_timestamp_is_refused(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    _, url = await serve_webhook(on_message=recorder)
    driver = standin.driver(url, token=TOKEN)
    query = driver.signed_query(timestamp="1409659813")  # 2014: a replayed capture

    status, _ = await driver.post_raw(
        b"<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType>text</MsgType><Content>x</Content><MsgId>9</MsgId></xml>", query=query)

    assert status == 403
    assert recorder.received == []


async def test_an_encrypted_account_refuses_plaintext_pushes(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    recorder = Recorder()
    _, url = await serve_webhook(encoding_aes_key=AES_KEY, on_message=recorder)
    driver = standin.driver(url, token=TOKEN, encoding_aes_key=AES_KEY)

    delivery = await driver.deliver(driver.text("oUser1", "hi"), mode=DeliveryMode.PLAINTEXT)

    assert delivery.status == 403
    assert recorder.received == []


async def test_shutdown_waits_for_work_in_progress(standin: WeChatStandIn) -> None:
    recorder = Recorder(delay_seconds=0.3)
    webhook = WeChatWebhook(token=TOKEN, app_id=standin.app_id, encoding_aes_key=None,
                            on_message=recorder)
    server = LocalServer(webhook.make_app())
    await server.start()
    driver = standin.driver(server.base_url + "wechat", token=TOKEN)

    delivery = await driver.deliver(driver.text("oUser1", "last words"))
    assert delivery.body == "success"
    assert recorder.received == []  # answered before the work was done

    await server.stop()
    assert len(recorder.received) == 1


async def test_a_failing_callback_is_counted_and_does_not_affect_the_answer(
    standin: WeChatStandIn, serve_webhook: ServeWebhook
) -> None:
    async def broken(_inbound: InboundMessage) -> None:
        raise RuntimeError("downstream is down")

    webhook, url = await serve_webhook(on_message=broken)
    driver = standin.driver(url, token=TOKEN)

    delivery = await driver.deliver(driver.text("oUser1", "hi"))
    await webhook.drain()

    assert delivery.body == "success"
    assert webhook.stats.handler_errors == 1


def test_bad_settings_are_refused_at_construction() -> None:
    async def noop(_inbound: InboundMessage) -> None:
        return None

    with pytest.raises(ValueError, match="43 characters"):
        WeChatWebhook(token="t", app_id="wx1", encoding_aes_key="short", on_message=noop)
    with pytest.raises(ValueError, match="token"):
        WeChatWebhook(token="", app_id="wx1", encoding_aes_key=None, on_message=noop)
