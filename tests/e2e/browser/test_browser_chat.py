"""The demo page in a real browser (Debian's chromium, driven by Playwright).

People click through the page as they would in Telegram: a customer browses, books and pays
an invoice, the provider accepts and finishes in their own pane, the customer confirms and
reviews; each pane shows what the bot sent, and what the core recorded agrees. The page also
renders the Bot API faithfully (formatted text, photos, locations, inline and reply
keyboards) and lets a new person join. Screenshots land in `tests/e2e/screenshots/`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Locator, Page, expect

from app.demo.server import RunningDemo
from app.demo.walkthrough import play, relay_transport_available
from bots.i18n import gettext
from core.catalog.commands import GetProvider
from core.reviews.commands import ListProviderReviews
from core.shared.money import Money
from tests.e2e.browser.conftest import screenshot_path

pytestmark = pytest.mark.slow

EN = "en"
STEP_TIMEOUT_MS = 30_000


def text(key: str, **params: Any) -> str:
    return gettext(key, EN, **params)


def fragment(key: str) -> str:
    """The fixed start of a text, before its first placeholder."""
    return gettext(key, EN).split("{")[0].strip()


def pane(page: Page, user_id: int, chat_id: int | None = None) -> Locator:
    chat = user_id if chat_id is None else chat_id
    return page.locator(f'.pane[data-user="{user_id}"][data-chat="{chat}"]')


def key(where: Locator, label: str | re.Pattern[str]) -> Locator:
    """The newest button (inline or reply keyboard) with this label in a pane."""
    return where.locator(".key").filter(has_text=label).last


async def open_page(page: Page, demo: RunningDemo) -> None:
    await page.goto(demo.url)
    await page.wait_for_selector("body.ready", timeout=STEP_TIMEOUT_MS)


async def say(where: Locator, message: str) -> None:
    box = where.locator("textarea")
    await box.fill(message)
    await box.press("Enter")


async def loaded_width(image: Locator) -> int:
    """The picture's width once the browser has loaded and decoded it (fails if it cannot)."""
    width: int = await image.evaluate("img => img.decode().then(() => img.naturalWidth)")
    return width


async def shows(where: Locator, words: str) -> None:
    await expect(where.locator(".messages")).to_contain_text(words, timeout=STEP_TIMEOUT_MS)


async def test_a_customer_books_and_pays_and_the_provider_serves_then_gets_reviewed(
    page: Page, demo: RunningDemo
) -> None:
    ann_id, lin_id = demo.world.customer.telegram_id, demo.world.provider.telegram_id
    lin_user = demo.world.provider.user_id
    before = (await demo.runtime.bus.handle(ListProviderReviews(provider_id=lin_user))).total
    await open_page(page, demo)
    ann, lin = pane(page, ann_id), pane(page, lin_id)
    await expect(ann.locator("header")).to_contain_text("Ann")
    await expect(lin.locator("header")).to_contain_text("Lin Yue")

    # Ann opens the bot and browses to Lin's card: a photo with her price and rating.
    await ann.locator("button.start").click()
    await shows(ann, "Hi Ann, welcome to Yueban!")
    await say(ann, "/browse")
    await shows(ann, text("tgc.browse.categories"))
    await key(ann, "Game companions").click()
    await key(ann, "League of Legends").click()
    await key(ann, "Lin Yue").click()
    card = ann.locator('.msg[data-kind="photo"]').last
    await expect(card).to_contain_text("Lin Yue", timeout=STEP_TIMEOUT_MS)
    photo = card.locator("img")
    await expect(photo).to_be_visible()
    assert await loaded_width(photo) > 0
    await page.screenshot(path=screenshot_path("1-provider-card"))

    # She books an hour of League of Legends, now, and pays the card invoice.
    await key(ann, text("tgc.card.book")).click()
    await key(ann, "League of Legends ·").click()
    hour = text("tgc.book.units_button", units=1, unit=text("tgc.unit.hour"),
                price=Money(6000, "CNY").format())
    await key(ann, hour).click()
    await key(ann, text("tgc.calendar.now")).click()
    await key(ann, text("tgc.button.skip")).click()
    await key(ann, text("tgc.details.confirm")).click()
    await key(ann, text("tgc.pay.method.card", amount=Money(6000, "CNY").format())).click()
    invoice = ann.locator('.msg[data-kind="invoice"]').last
    await expect(invoice).to_contain_text("¥60.00", timeout=STEP_TIMEOUT_MS)
    await expect(invoice).to_contain_text("test payment")
    await page.screenshot(path=screenshot_path("2-invoice"))
    await invoice.locator(".key.pay").click()
    await expect(ann.locator('.msg[data-kind="successful_payment"]')).to_contain_text(
        "You paid ¥60.00", timeout=STEP_TIMEOUT_MS)
    await shows(ann, fragment("tgc.pay.paid_order"))

    # Lin gets the order in her pane and accepts it; Ann hears it started.
    await shows(lin, fragment("notice.order.request_instant"))
    await key(lin, text("action.order.accept")).click()
    await shows(ann, "is accepted and starts now")
    await page.screenshot(path=screenshot_path("3-accepted"))

    if relay_transport_available():
        # Once the order's chat is open on both sides, what one writes reaches the other.
        talk = text("action.relay.select")
        await expect(key(ann, talk)).to_be_visible(timeout=STEP_TIMEOUT_MS)
        await expect(key(lin, talk)).to_be_visible(timeout=STEP_TIMEOUT_MS)
        await say(ann, "Hi Lin, ready for some ranked games?")
        await shows(lin, "ready for some ranked games?")
        await say(lin, "Yes! Inviting you now.")
        await shows(ann, "Inviting you now.")

    # Lin finishes with a photo as proof; Ann confirms and reviews her.
    await key(lin, text("action.order.finish")).click()
    await shows(lin, fragment("tg.ws.finish.ask_proof"))
    await lin.locator("button.attach").click()
    await lin.get_by_role("button", name=re.compile("Send a sample photo")).click()
    await shows(lin, fragment("tg.ws.finished"))
    await key(ann, text("action.order.confirm")).click()
    await key(ann, "★★★★★").click()
    await shows(ann, "add a few words")
    await say(ann, "Great shot-calling, very patient. Thank you!")
    await shows(ann, "Thank you for your review ★★★★★!")
    await page.screenshot(path=screenshot_path("4-reviewed"))

    reviews = await demo.runtime.bus.handle(ListProviderReviews(provider_id=lin_user))
    assert reviews.total == before + 1
    assert reviews.reviews[0].rating == 5
    assert reviews.reviews[0].text == "Great shot-calling, very patient. Thank you!"


async def test_the_page_renders_what_the_bot_sends_and_answers_with_keyboards_and_places(
    page: Page, demo: RunningDemo
) -> None:
    ann_id = demo.world.customer.telegram_id
    details = await demo.runtime.bus.handle(GetProvider(provider_id=demo.world.provider.user_id))
    await open_page(page, demo)
    ann = pane(page, ann_id)
    api = f"{demo.url}/bot{demo.standin.token}"

    async with aiohttp.ClientSession() as http:
        async def bot(method: str, **params: Any) -> None:
            async with http.post(f"{api}/{method}", json=params) as response:
                assert (await response.json())["ok"], method

        await bot("sendMessage", chat_id=ann_id, parse_mode="HTML", text=(
            "<b>Bold</b>, <i>italic</i>, <u>under</u>, <s>gone</s>, <code>code()</code>, "
            '<a href="https://example.com/yueban">a link</a> and '
            "<tg-spoiler>a secret</tg-spoiler>\n<pre>print(1)</pre>"
        ), reply_markup={"inline_keyboard": [[{"text": "Docs", "url": "https://example.com"}]]})
        await bot("sendPhoto", chat_id=ann_id, photo=details.profile.photos[0],
                  caption="<b>Lin Yue</b> · League of Legends", parse_mode="HTML")
        await bot("sendLocation", chat_id=ann_id, latitude=31.2304, longitude=121.4737)
        await bot("sendMessage", chat_id=ann_id, text="Where are you?", reply_markup={
            "keyboard": [[{"text": "📍 Here I am", "request_location": True}],
                         [{"text": "Plain answer"}]],
            "resize_keyboard": True,
        })

    formatted = ann.locator(".msg").filter(has_text="Bold").last
    await expect(formatted.locator("b")).to_have_text("Bold", timeout=STEP_TIMEOUT_MS)
    await expect(formatted.locator("i")).to_have_text("italic")
    await expect(formatted.locator("u")).to_have_text("under")
    await expect(formatted.locator("s")).to_have_text("gone")
    await expect(formatted.locator("code").first).to_have_text("code()")
    await expect(formatted.locator("code.pre")).to_have_text("print(1)")
    await expect(formatted.locator('a[href="https://example.com/yueban"]')).to_have_text("a link")
    spoiler = formatted.locator(".spoiler")
    await expect(spoiler).to_have_text("a secret")
    await spoiler.click()
    await expect(spoiler).to_have_class(re.compile("revealed"))
    await expect(formatted.locator(".key.link")).to_have_text("Docs")

    photo = ann.locator('.msg[data-kind="photo"]').last
    await expect(photo.locator(".text b")).to_have_text("Lin Yue", timeout=STEP_TIMEOUT_MS)
    assert await loaded_width(photo.locator("img")) > 0
    place = ann.locator('.msg[data-kind="location"]').last
    await expect(place).to_contain_text("31.2304, 121.4737", timeout=STEP_TIMEOUT_MS)

    keyboard = ann.locator(".reply-keyboard")
    await expect(keyboard).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await key(keyboard, "Plain answer").click()
    await expect(ann.locator(".msg.out").last).to_contain_text("Plain answer",
                                                               timeout=STEP_TIMEOUT_MS)
    await key(keyboard, "📍 Here I am").click()
    await page.locator("#place-dialog").get_by_role("button", name="People's Square").click()
    shared = ann.locator('.msg.out[data-kind="location"]').last
    await expect(shared).to_contain_text("31.2304, 121.4737", timeout=STEP_TIMEOUT_MS)
    await page.screenshot(path=screenshot_path("5-rendering"))

    history = demo.standin.history(ann_id)
    sent = [m["message"] for m in history if not m["from_bot"]]
    assert sent[-2]["text"] == "Plain answer"
    assert sent[-1]["location"] == {"latitude": 31.2304, "longitude": 121.4737}


async def test_a_new_person_joins_from_the_page_and_talks_to_the_bot(
    page: Page, demo: RunningDemo
) -> None:
    await open_page(page, demo)
    panes = page.locator(".pane")
    await expect(panes).to_have_count(4)
    await page.locator("#add-person").click()
    await page.locator("#person-name").fill("Zoe")
    await page.locator("#person-create").click()
    await expect(panes).to_have_count(5, timeout=STEP_TIMEOUT_MS)
    zoe = panes.last
    await expect(zoe.locator("header")).to_contain_text("Zoe")
    await zoe.locator("button.start").click()
    await shows(zoe, "Hi Zoe, welcome to Yueban!")
    await page.screenshot(path=screenshot_path("6-new-person"))
    [added] = [u for u in demo.standin.bot.users.values() if u["first_name"] == "Zoe"]
    assert added["language_code"] == "en"

    # The page remembers the panes: a reload shows Zoe again, with her chat.
    await page.reload()
    await page.wait_for_selector("body.ready")
    await expect(page.locator(".pane")).to_have_count(5)
    await shows(page.locator(".pane").last, "Hi Zoe, welcome to Yueban!")


async def test_the_walkthrough_plays_the_journey_in_the_page_by_itself(
    page: Page, demo: RunningDemo
) -> None:
    await open_page(page, demo)
    walking = asyncio.create_task(play(demo, pace=0))
    narration = page.locator("#narration")
    await expect(narration).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await expect(narration).to_contain_text("applies with /apply", timeout=STEP_TIMEOUT_MS)
    result = await asyncio.wait_for(walking, timeout=300)
    assert result.completed, result.reason
    await expect(narration).to_contain_text("That was the whole journey",
                                            timeout=STEP_TIMEOUT_MS)
    await expect(narration).to_have_class(re.compile("done"))
    mei = pane(page, demo.world.newcomer.telegram_id)
    group = pane(page, demo.world.operator.telegram_id, demo.group_chat_id)
    await shows(mei, "Welcome aboard! Your application no.")
    await shows(group, "Approved by Olivia Operator")
    await shows(group, "Paid out")
    await shows(mei, fragment("notice.wallet.withdrawal_paid"))
    await shows(pane(page, demo.world.customer.telegram_id), "Thank you for your review ★★★★★!")
    await page.screenshot(path=screenshot_path("7-walkthrough"))
