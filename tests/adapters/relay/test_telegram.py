"""Two people talk about their order through the bot in Telegram: what one sends reaches the
other as the bot's own message (no forward origin), threaded, edited, masked, and refusals
are told."""

from __future__ import annotations

import asyncio
from typing import Any

from bots.telegram.standin import SimUser
from tests.adapters.relay.conftest import ChatWorld, received, saying, text_of


async def _pair(chat: ChatWorld, *, on_site: bool = False) -> tuple[SimUser, SimUser, Any]:
    ann = await chat.person("Ann")
    mei = await chat.person("Mei", provider=True, language_code="zh")
    order = await chat.accepted_order(ann, mei, on_site=on_site)
    return ann, mei, order


def _copies(chat: ChatWorld) -> list[Any]:
    return [c for c in chat.standin.calls("copyMessage") if c.ok]


async def test_text_is_copied_without_forward_origin_with_a_header_naming_the_order(
        chat: ChatWorld) -> None:
    ann, mei, order = await _pair(chat)
    await ann.send_text("Hi, can we start at 8 pm? Rank: Diamond II")
    copy = await received(mei, saying("can we start at 8 pm"))
    assert "forward_origin" not in copy
    assert copy["text"] == "Hi, can we start at 8 pm? Rank: Diamond II"
    [[header]] = copy["reply_markup"]["inline_keyboard"]
    assert order.number in header["text"]
    assert len(_copies(chat)) == 1
    # And back the other way.
    await mei.send_text("好的，没问题")
    back = await received(ann, saying("好的，没问题"))
    assert order.number in back["reply_markup"]["inline_keyboard"][0][0]["text"]


async def test_media_kinds_are_copied(chat: ChatWorld) -> None:
    ann, mei, _ = await _pair(chat)
    await ann.send_photo(caption="the screenshot")
    await ann.send_voice()
    await ann.send_sticker()
    await ann.send_document(b"%PDF-1.4 receipt", "receipt.pdf", caption="receipt")
    await ann.send_location(31.23, 121.47)
    await chat.drain()
    photo = await received(mei, lambda m: "photo" in m)
    assert text_of(photo) == "the screenshot"
    await received(mei, lambda m: "voice" in m)
    await received(mei, lambda m: "sticker" in m)
    await received(mei, lambda m: "document" in m and m.get("caption") == "receipt")
    spot = await received(mei, lambda m: "location" in m)
    assert spot["location"]["latitude"] == 31.23
    assert len(_copies(chat)) == 5


async def test_a_reply_is_threaded_onto_the_recipients_copy(chat: ChatWorld) -> None:
    ann, mei, _ = await _pair(chat)
    await ann.send_text("Which hero do you main?")
    copy = await received(mei, saying("Which hero"))
    await mei.send_text("李白", reply_to=copy)
    answer = await received(ann, saying("李白"))
    original = next(m for m in ann.history() if not m["from_bot"]
                    and m["message"].get("text") == "Which hero do you main?")
    assert answer["reply_to_message"]["message_id"] == original["message"]["message_id"]


async def test_an_edit_follows_to_the_copy(chat: ChatWorld) -> None:
    ann, mei, order = await _pair(chat)
    sent = await ann.send_text("See you at 7 pm")
    await received(mei, saying("See you at 7 pm"))
    await chat.bot.settle()
    await ann.edit_message(sent, "See you at 8 pm")
    edited = await received(mei, saying("See you at 8 pm"))
    assert order.number in edited["reply_markup"]["inline_keyboard"][0][0]["text"]
    assert not any("7 pm" in text_of(m) for m in mei.bot_messages())


async def test_a_phone_number_is_masked_and_sent_instead_of_copied(chat: ChatWorld) -> None:
    ann, mei, _ = await _pair(chat)
    await ann.send_text("call me on 138 1234 5678 at 9")
    masked = await received(mei, saying("call me on"))
    assert "5678" not in masked["text"] and "[已隐藏]" in masked["text"]
    assert "at 9" in masked["text"]
    assert _copies(chat) == []
    # The sender is told their contact details were hidden.
    await chat.drain()
    await received(ann, lambda m: "hidden" in text_of(m) or "strike" in text_of(m))


async def test_a_caption_with_contacts_is_replaced_in_the_copy(chat: ChatWorld) -> None:
    ann, mei, _ = await _pair(chat)
    await ann.send_photo(caption="add me: wx abc_12345")
    copy = await received(mei, lambda m: "photo" in m)
    assert "abc_12345" not in copy["caption"]
    assert len(_copies(chat)) == 1


async def test_an_album_arrives_as_one_media_group(chat: ChatWorld) -> None:
    ann, mei, _ = await _pair(chat)
    await ann.send_album(3, caption="our team")
    await chat.bot.settle()
    await received(mei, lambda m: "media_group_id" in m)
    await asyncio.sleep(0.1)  # nothing else follows the group
    groups = [c for c in chat.standin.calls("sendMediaGroup") if c.ok]
    assert len(groups) == 1
    photos = [m for m in mei.bot_messages() if "photo" in m]
    assert len(photos) == 3
    assert len({m["media_group_id"] for m in photos}) == 1


async def test_an_album_part_left_alone_still_arrives(chat: ChatWorld) -> None:
    # On a busy bot the last part may come after the album went: alone it is no album.
    ann, mei, _ = await _pair(chat)
    await ann.send_photo(caption="last one", media_group_id="late-part")
    await chat.bot.settle()
    copy = await received(mei, lambda m: "photo" in m)
    assert copy["caption"] == "last one"
    assert not [c for c in chat.standin.calls("sendMediaGroup")]


async def test_a_blocked_recipient_is_reported_and_the_sender_told(chat: ChatWorld) -> None:
    ann, mei, _ = await _pair(chat)
    await mei.block()
    await ann.send_text("are you there?")
    await chat.drain()
    await chat.drain()
    await received(ann, saying("blocked the bot"))


async def test_a_message_without_an_order_gets_a_helpful_answer(chat: ChatWorld) -> None:
    bob = await chat.person("Bob")
    await bob.send_text("hello?")
    await received(bob, saying("no open order chat"))


async def test_chat_chooses_between_two_orders(chat: ChatWorld) -> None:
    ann = await chat.person("Ann")
    mei = await chat.person("Mei", provider=True)
    lin = await chat.person("Lin", provider=True)
    first = await chat.accepted_order(ann, mei)
    second = await chat.accepted_order(ann, lin)
    await ann.send_text("hello both?")
    choose = await received(ann, saying("several open order chats"))
    buttons = [b for row in choose["reply_markup"]["inline_keyboard"] for b in row]
    assert {first.number, second.number} <= {n for b in buttons for n in b["text"].split()}
    await ann.send_text("/chat")
    listing = await received(ann, saying("Choose the one"))
    target = next(b for row in listing["reply_markup"]["inline_keyboard"] for b in row
                  if second.number in b["text"])
    tap = await ann.tap(listing, callback_data=target["callback_data"])
    assert second.number in (await tap.answer())["text"]
    await ann.send_text("for Lin only")
    await received(lin, saying("for Lin only"))
    assert not any("for Lin only" in text_of(m) for m in mei.bot_messages())


async def test_sos_reaches_the_operators_group(chat: ChatWorld) -> None:
    ann, _mei, order = await _pair(chat, on_site=True)
    await ann.send_location(31.2304, 121.4737)
    await ann.send_text("/sos")
    await chat.drain()
    card = await received(chat.watcher, saying("🆘", order.number), chat=chat.operators)
    assert "31.2304" in text_of(card)
    await received(ann, saying("SOS sent"))


async def test_protected_copies_when_configured(chat: ChatWorld) -> None:
    chat.bot.service.dispatcher["relay_protect_content"] = True
    ann, mei, _ = await _pair(chat)
    await ann.send_text("keep this private")
    await received(mei, saying("keep this private"))
    assert _copies(chat)[0].params.get("protect_content") in (True, "true", "True")
