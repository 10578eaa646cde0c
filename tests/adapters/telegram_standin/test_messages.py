"""What the bot sends lands in chats as Telegram would keep it, and every result parses in
aiogram and matches the spec."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InputMediaPhoto,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.types import KeyboardButton as Key

from bots.telegram.standin import BotApiStandIn, SimulationError
from bots.telegram.standin.media import make_png
from bots.telegram.standin.spec import conformance_problems

from .conftest import eventually, polling

MARKUP = {"inline_keyboard": [[{"text": "Accept", "callback_data": "accept:1"}]]}


async def test_edits_are_kept_and_identical_edits_are_not_modified(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    card = await bot.send_message(ann.id, "Order 1: waiting", reply_markup=MARKUP)

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Order 1: waiting", chat_id=ann.id,
                                    message_id=card.message_id, reply_markup=MARKUP)
    await bot.edit_message_reply_markup(chat_id=ann.id, message_id=card.message_id)
    edited = await bot.edit_message_text("Order 1: <b>accepted</b>", chat_id=ann.id,
                                         message_id=card.message_id, parse_mode="HTML")

    assert isinstance(edited, Message) and edited.edit_date is not None
    [entry] = ann.history()
    assert entry["message"]["text"] == "Order 1: accepted"
    assert entry["message"]["entities"] == [{"type": "bold", "offset": 9, "length": 8}]
    assert [version.get("reply_markup") is not None for version in entry["edits"]] == \
        [True, False]


async def test_captions_are_edited_on_media_messages_only(standin: BotApiStandIn,
                                                         bot: Bot) -> None:
    ann = standin.create_user("Ann")
    photo = await bot.send_photo(ann.id, BufferedInputFile(make_png(40, 30), "a.png"),
                                 caption="before")
    plain = await bot.send_message(ann.id, "plain")

    edited = await bot.edit_message_caption(chat_id=ann.id, message_id=photo.message_id,
                                            caption="<b>after</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="no caption in the message"):
        await bot.edit_message_caption(chat_id=ann.id, message_id=plain.message_id,
                                       caption="x")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.edit_message_caption(chat_id=ann.id, message_id=photo.message_id,
                                       caption="x" * 1025)

    assert isinstance(edited, Message) and edited.caption == "after"
    assert edited.caption_entities is not None and edited.caption_entities[0].type == "bold"


async def test_only_the_bots_own_existing_messages_can_be_edited(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    said = await ann.send_text("hello")

    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("changed", chat_id=ann.id, message_id=said["message_id"])
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("changed", chat_id=ann.id, message_id=999)


async def test_copy_message_has_no_forward_origin_and_records_protection(
    standin: BotApiStandIn, bot: Bot
) -> None:
    customer = standin.create_user("Cai", username="cai")
    provider = standin.create_user("Pei", username="pei")
    photo = await customer.send_photo(caption="the broken tap")

    copied = await bot.copy_message(provider.id, customer.id, photo["message_id"],
                                    protect_content=True)

    [entry] = provider.history()
    relayed = entry["message"]
    assert relayed["message_id"] == copied.message_id
    assert relayed["from"]["is_bot"] is True
    assert "forward_origin" not in relayed
    assert relayed["caption"] == "the broken tap"
    assert relayed["photo"] == photo["photo"]
    assert relayed["has_protected_content"] is True and entry["protect_content"] is True
    with pytest.raises(TelegramBadRequest, match="message can't be copied"):
        await bot.copy_message(customer.id, provider.id, copied.message_id)


async def test_forward_message_shows_where_it_came_from(
    standin: BotApiStandIn, bot: Bot
) -> None:
    customer = standin.create_user("Cai")
    operator = standin.create_user("Olga")
    said = await customer.send_text("I was charged twice")

    forwarded = await bot.forward_message(operator.id, customer.id, said["message_id"])

    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.type == "user"
    assert forwarded.text == "I was charged twice"


async def test_uploads_by_multipart_can_be_downloaded_with_get_file(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    price_list = b"%PDF-1.4 price list"
    picture = make_png(300, 200)

    document = await bot.send_document(ann.id, BufferedInputFile(price_list, "prices.pdf"),
                                       caption="Our prices")
    photo = await bot.send_photo(ann.id, BufferedInputFile(picture, "room.png"))

    assert document.document is not None and document.document.file_name == "prices.pdf"
    assert document.document.mime_type == "application/pdf"
    assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == \
        (300, 200)
    file = await bot.get_file(document.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == price_list
    # the same file can be sent again by its file_id, without uploading
    again = await bot.send_photo(ann.id, photo.photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_id == photo.photo[-1].file_id


async def test_the_bot_can_download_what_a_user_sent(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")
    voice = await ann.send_voice(b"OggS voice of ann", duration=4)
    licence = await ann.send_document(b"%PDF-1.7 licence", "licence.pdf", caption="my licence")

    for sent, kind, content in ((voice, "voice", b"OggS voice of ann"),
                                (licence, "document", b"%PDF-1.7 licence")):
        file = await bot.get_file(sent[kind]["file_id"])
        assert file.file_path is not None
        downloaded = await bot.download_file(file.file_path)
        assert downloaded is not None and downloaded.read() == content
    assert licence["document"]["file_name"] == "licence.pdf"
    assert licence["document"]["mime_type"] == "application/pdf"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("no-such-file")
    async with aiohttp.ClientSession() as http, http.get(
        f"{standin.base_url}/file/bot{standin.token}/voice/missing.oga"
    ) as response:
        assert response.status == 404


async def test_media_groups_upload_each_attachment(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")
    album = [InputMediaPhoto(media=BufferedInputFile(make_png(100 + i, 80), f"{i}.png"),
                             caption="Before and after" if i == 0 else None) for i in range(2)]

    messages = await bot.send_media_group(ann.id, album)

    assert len(messages) == 2
    assert messages[0].media_group_id is not None
    assert {m.media_group_id for m in messages} == {messages[0].media_group_id}
    assert messages[0].caption == "Before and after"
    assert [m.photo[-1].width for m in messages if m.photo] == [100, 101]
    with pytest.raises(TelegramBadRequest):
        await bot.send_media_group(ann.id, album[:1])


async def test_a_blocked_bot_gets_403_and_learns_it_from_an_update(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann")
    await ann.block()

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ann.id, "your order is ready")
    updates = await bot.get_updates(timeout=0)
    assert updates[-1].my_chat_member is not None
    assert updates[-1].my_chat_member.new_chat_member.status == "kicked"

    await ann.unblock()
    await bot.send_message(ann.id, "welcome back")
    assert [m["text"] for m in ann.bot_messages()] == ["welcome back"]


async def test_unknown_chats_are_refused_like_telegram(bot: Bot) -> None:
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(555_000_111, "hello stranger")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100_555, "hello group")


async def test_groups_have_negative_ids_and_privacy_mode(
    standin: BotApiStandIn, bot: Bot
) -> None:
    olga = standin.create_user("Olga", username="olga")
    oleg = standin.create_user("Oleg", username="oleg")
    group = standin.create_group("Yueban operators", [olga, oleg], admins=[olga])
    seen: list[str] = []
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def record(message: Message) -> None:
        seen.append(message.text or "")
        await message.answer("noted")

    async with polling(dispatcher, bot):
        await oleg.send_text("chatting among ourselves", chat=group)
        await olga.send_text("/pending@yueban_test_bot", chat=group)
        await group.next_message()

    assert group.id < 0
    assert seen == ["/pending@yueban_test_bot"]
    admins = await bot.get_chat_administrators(group.id)
    assert [(a.user.username, a.status) for a in admins] == [("olga", "creator")]
    member = await bot.get_chat_member(group.id, oleg.id)
    assert member.status == "member"


async def test_live_locations_can_be_moved_until_stopped(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")
    sent = await bot.send_location(ann.id, 31.23, 121.47, live_period=900)

    moved = await bot.edit_message_live_location(chat_id=ann.id, message_id=sent.message_id,
                                                 latitude=31.24, longitude=121.48)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_live_location(chat_id=ann.id, message_id=sent.message_id,
                                             latitude=31.24, longitude=121.48)
    await bot.stop_message_live_location(chat_id=ann.id, message_id=sent.message_id)

    assert isinstance(moved, Message) and moved.location is not None
    assert moved.location.latitude == pytest.approx(31.24)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_live_location(chat_id=ann.id, message_id=sent.message_id,
                                             latitude=31.25, longitude=121.49)


async def test_what_users_send_reaches_the_bot_as_telegram_shapes_it(
    standin: BotApiStandIn, bot: Bot
) -> None:
    ann = standin.create_user("Ann", username="ann")
    received: list[Message] = []
    edited: list[Message] = []
    dispatcher = Dispatcher()
    dispatcher.message()(received.append)  # type: ignore[arg-type]
    dispatcher.edited_message()(edited.append)  # type: ignore[arg-type]

    async with polling(dispatcher, bot):
        greeting = await ann.send_text("hi, call me on +86 138 0013 8000")
        await ann.send_contact("+8613800138000")
        album = await ann.send_album(2, caption="my room")
        await ann.send_sticker("🎱")
        live = await ann.send_location(31.2, 121.4, live_period=600)
        await ann.move_live_location(live, 31.3, 121.5)
        await ann.edit_message(greeting, "hi")
        await ann.send_text("see above", reply_to=greeting)
        await eventually(lambda: len(received) == 7 and len(edited) == 2)

    by_kind = {next(k for k in ("text", "contact", "photo", "sticker", "location")
                    if getattr(m, k)): m for m in received}
    assert by_kind["contact"].contact is not None
    assert by_kind["contact"].contact.user_id == ann.id
    assert {m.media_group_id for m in received if m.photo} == {album[0]["media_group_id"]}
    assert by_kind["sticker"].sticker is not None and by_kind["sticker"].sticker.emoji == "🎱"
    assert received[0].entities is not None
    assert received[0].entities[0].type == "phone_number"
    assert received[-1].reply_to_message is not None
    assert received[-1].reply_to_message.message_id == greeting["message_id"]
    assert [(m.location is not None, m.text) for m in edited] == [(True, None), (False, "hi")]


async def test_users_can_only_do_what_their_client_allows(standin: BotApiStandIn,
                                                          bot: Bot) -> None:
    ann = standin.create_user("Ann")
    plain = await bot.send_message(ann.id, "no buttons here")

    with pytest.raises(SimulationError, match="no inline button"):
        await ann.tap(plain.message_id, "Accept")
    with pytest.raises(SimulationError, match="not an invoice"):
        await ann.pay(plain.message_id)
    with pytest.raises(SimulationError, match="own messages"):
        await ann.edit_message(plain.message_id, "hacked")
    card = await bot.send_message(ann.id, "Order", reply_markup=MARKUP)
    await ann.block()
    with pytest.raises(SimulationError, match="blocked the bot"):
        await ann.tap(card.message_id, "Accept")
    with pytest.raises(SimulationError, match="blocked the bot"):
        await ann.send_text("hello?")
    assert [next(k for k in p.update if k != "update_id") for p in standin.bot.pending] == \
        ["my_chat_member"]


async def test_reply_keyboards_are_shown_and_pressed(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")
    keyboard = ReplyKeyboardMarkup(keyboard=[[Key(text="Share phone", request_contact=True),
                                              Key(text="Menu")]], resize_keyboard=True)
    await bot.send_message(ann.id, "Choose", reply_markup=keyboard)

    contact = await ann.press("Share phone")
    menu = await ann.press("Menu")

    assert contact["contact"]["user_id"] == ann.id
    assert menu["text"] == "Menu"
    with pytest.raises(SimulationError, match="no reply keyboard button"):
        await ann.press("Settings")


async def test_callback_answers_are_single_use(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")
    card = await bot.send_message(ann.id, "Order", reply_markup=MARKUP)
    tap = await ann.tap(card.message_id, callback_data="accept:1")

    assert await bot.answer_callback_query(tap.id, text="ok")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(tap.id, text="again")


async def test_deletions_and_chat_actions_are_recorded(standin: BotApiStandIn, bot: Bot) -> None:
    ann = standin.create_user("Ann")
    sent = await bot.send_message(ann.id, "oops")

    assert await bot.send_chat_action(ann.id, "typing")
    assert await bot.delete_message(ann.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ann.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(ann.id, "dancing")

    assert [e.kind for e in standin.events(ann.id)] == ["message", "chat_action", "deleted"]
    assert ann.bot_messages() == []


async def test_every_result_parses_and_matches_the_spec(standin: BotApiStandIn,
                                                        bot: Bot) -> None:
    ann = standin.create_user("Ann", username="ann")
    group = standin.create_group("Ops", [ann], admins=[ann])
    said = await ann.send_text("hi")
    await bot.get_me()
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.get_my_commands()
    await bot.send_message(ann.id, "<i>hi</i>", parse_mode="HTML", reply_markup=MARKUP,
                           reply_parameters={"message_id": said["message_id"]})
    await bot.send_photo(ann.id, BufferedInputFile(make_png(64, 64), "a.png"), caption="c")
    await bot.send_voice(ann.id, BufferedInputFile(b"OggS....", "v.ogg"), duration=2)
    await bot.send_video(ann.id, BufferedInputFile(b"....ftypmp4", "v.mp4"))
    await bot.send_video_note(ann.id, BufferedInputFile(b"....ftypmp4", "n.mp4"))
    await bot.send_sticker(ann.id, BufferedInputFile(b"RIFF....WEBPVP8 ", "s.webp"))
    await bot.send_location(group.id, 1.0, 2.0)
    await bot.get_chat(ann.id)
    await bot.get_chat(group.id)
    await bot.get_chat_member(group.id, ann.id)
    await bot.get_webhook_info()
    await bot.get_updates(timeout=0)

    assert standin.spec is not None
    checked = 0
    for call in standin.calls():
        assert call.ok, call.description
        returns = standin.spec.method(call.method).returns  # type: ignore[union-attr]
        assert conformance_problems(standin.spec, returns, call.result) == [], call.method
        checked += 1
    assert checked == 15
