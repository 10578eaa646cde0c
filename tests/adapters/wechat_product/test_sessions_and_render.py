"""The pieces under the conversation: per-openid sessions (in memory and in Redis), texts cut
to WeChat's byte limits, action tokens, and the custom menu WeChat accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import pytest

from bots.wechat.menu import MAX_SUB_BUTTONS, MAX_TOP_BUTTONS, validate_menu
from bots.wechat.menus import MENU_KEYS, build_menu
from bots.wechat.render import (
    action_token,
    money,
    notice_choices,
    numbered,
    parse_action_token,
    render_params,
    shorten,
    split_text,
)
from bots.wechat.sessions import InMemorySessionStore, RedisSessionStore, Session
from core.shared.messages import Action
from core.shared.money import Money


async def test_a_session_is_kept_until_its_ttl_and_an_idle_one_is_forgotten() -> None:
    now = [0.0]
    store = InMemorySessionStore(ttl_seconds=60, clock=lambda: now[0])
    await store.save("o1", Session(step="book.address", data={"book": {"offer": 3}},
                                   choices=[("slot:1", "10:00-11:00")]))
    loaded = await store.load("o1")
    assert (loaded.step, loaded.data, loaded.choice(1)) == ("book.address", {"book": {"offer": 3}},
                                                            "slot:1")
    assert loaded.choice(2) is None and loaded.choice(0) is None
    now[0] = 61
    assert (await store.load("o1")).idle
    await store.save("o2", Session(choices=[("cats", "浏览")]))
    await store.save("o2", Session())
    assert (await store.load("o2")).idle


async def test_sessions_in_redis_are_shared_and_expire() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    first = RedisSessionStore(redis, "wxapp", ttl_seconds=30)
    second = RedisSessionStore(redis, "wxapp", ttl_seconds=30)
    await first.save("o1", Session(choices=[("cat:1", "游戏陪玩")]))
    assert (await second.load("o1")).choice(1) == "cat:1"
    assert 0 < await redis.ttl("yueban:wechat:wxapp:session:o1") <= 30
    await second.save("o1", Session())
    assert await redis.exists("yueban:wechat:wxapp:session:o1") == 0
    await redis.aclose()


def test_a_bad_ttl_is_refused() -> None:
    with pytest.raises(ValueError):
        InMemorySessionStore(ttl_seconds=0)


def test_long_texts_are_cut_at_lines_within_wechats_byte_limit() -> None:
    text = "\n".join(f"第{i}行：约伴订单" for i in range(400))
    pieces = split_text(text, 2000)
    assert all(len(p.encode("utf-8")) <= 2000 for p in pieces)
    assert "\n".join(pieces) == text
    assert split_text("短") == ["短"] and split_text("") == [""]
    assert all(len(p.encode()) <= 50 for p in split_text("长" * 100, 50))


def test_action_tokens_round_trip_and_refuse_what_they_cannot_carry() -> None:
    assert action_token(Action("order.accept", {"order_id": 42})) == "act:order.accept:42"
    assert parse_action_token("act:order.accept:42") == ("order.accept", 42)
    assert action_token(Action("wallet.statement")) == "act:wallet.statement:"
    assert parse_action_token("act:wallet.statement:") == ("wallet.statement", None)
    assert action_token(Action("settings.language", {"locale": "en"})) is None
    assert parse_action_token("act:order.accept:x") is None
    assert parse_action_token("cat:5") is None
    choices = notice_choices([Action("order.accept", {"order_id": 1}),
                              Action("order.accept", {"order_id": 1}),
                              Action("settings.language", {"locale": "en"})], "zh")
    assert choices == [("act:order.accept:1", "接单")]


def test_money_and_times_read_as_people_in_china_expect() -> None:
    assert money(Money(12050, "CNY")) == "¥120.50"
    assert money(Money(500, "USD")) == "5.00 USD"
    params = render_params({"start": datetime(2026, 1, 12, 2, 0, tzinfo=UTC), "n": None,
                            "total": Money(100, "CNY")}, "Asia/Shanghai")
    assert params == {"start": "2026-01-12 10:00", "n": "-", "total": "¥1.00"}
    assert shorten("新订单 YB0001A，时间 2026-01-12 10:00，金额 ¥120.00") == "新订单 YB0001A，时间 2026…"
    prompt = numbered("想约什么服务？", [("cat:1", "游戏陪玩"), ("cat:2", "跑腿")], "zh")
    assert prompt.splitlines() == ["想约什么服务？", "", "1. 游戏陪玩", "2. 跑腿", "", "回复数字选择"]


def test_the_menu_is_three_buttons_of_at_most_five_that_wechat_accepts() -> None:
    menu = build_menu()
    validate_menu(menu)
    names = [button["name"] for button in menu["button"]]
    assert names == ["浏览", "我的订单", "我的"] and len(names) <= MAX_TOP_BUTTONS
    for button in menu["button"]:
        assert 1 <= len(button["sub_button"]) <= MAX_SUB_BUTTONS
        for sub in button["sub_button"]:
            assert sub["type"] == "click" and sub["key"] in MENU_KEYS
