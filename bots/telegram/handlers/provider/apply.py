"""`/apply`: the provider application form, step by step, in the FSM.

The steps: name, about, photos, voice intro, services (category and price, as many as
wanted), service area (only for work at the customer's place), weekly hours, ID photo and a
certificate (only where the category asks for one), then a summary where any part can be
changed before the application is sent with `SubmitApplication`.

The draft lives in the FSM storage (Redis when configured), so a restart of the bot, or a
different worker answering the next message, continues where the person left off. Each
answer is checked with the core's own validation as it comes in, so a mistake is reported
at the step that made it; the core checks everything again on submission. `/cancel` closes
the form; `/apply` during the form asks the current question again.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bots.i18n import gettext
from bots.telegram.callbacks import ActionCallback
from bots.telegram.handlers.provider import drafts
from bots.telegram.handlers.provider.callbacks import ApplyCategory, ApplyStep
from bots.telegram.handlers.provider.views import (
    file_of,
    hours_text,
    parse_hours,
    parse_money,
    unit_name,
)
from bots.telegram.middlewares import Actor
from core.catalog.availability import WEEKDAYS, AvailabilityPlan, WeeklyRule
from core.catalog.commands import ListCategories, SubmitApplication
from core.catalog.model import (
    CERTIFIED_KINDS,
    LOCAL_KINDS,
    MAX_PHOTOS,
    Category,
    GeoPoint,
    OfferDraft,
    PricingUnit,
    ProfileDraft,
    check_file_refs,
    check_unit_price,
)
from core.catalog.onboarding import Document, DocumentKind
from core.identity.commands import GetUser
from core.messagebus import MessageBus
from core.shared.money import Money


class ApplyForm(StatesGroup):
    name = State()
    bio = State()
    photos = State()
    voice = State()
    category = State()
    price = State()
    per_km = State()
    offers = State()
    location = State()
    radius = State()
    hours = State()
    id_photo = State()
    certificate = State()
    review = State()


Step = ApplyForm  # short for the steps in the tables below
STEPS: tuple[State, ...] = (
    Step.name, Step.bio, Step.photos, Step.voice, Step.category, Step.price, Step.per_km, Step.offers,
    Step.location, Step.radius, Step.hours, Step.id_photo, Step.certificate, Step.review,
)
# Steps that finish a part of the form: when changing one part from the summary, the form
# goes back to the summary after these (or to whatever the change made necessary).
SECTION_ENDS = frozenset(
    {Step.name, Step.bio, Step.photos, Step.voice, Step.offers, Step.radius, Step.hours, Step.id_photo,
     Step.certificate}
)
# The parts a person can change from the summary, by button number.
SECTIONS: tuple[tuple[str, State], ...] = (
    ("name", Step.name), ("bio", Step.bio), ("photos", Step.photos), ("voice", Step.voice),
    ("offers", Step.offers), ("area", Step.location), ("hours", Step.hours),
    ("id_photo", Step.id_photo), ("certificate", Step.certificate),
)
HOUR_PRESETS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("10:00-22:00", tuple(range(7))),
    ("09:00-18:00", tuple(range(5))),
    ("18:00-24:00", tuple(range(7))),
    ("10:00-22:00", (5, 6)),
)
RADIUS_CHOICES = (3, 5, 10, 20)
# This flow's part of the person's FSM data (see `drafts`).
DRAFT = "provider_apply"
TEXT = F.text & ~F.text.startswith("/")


def router() -> Router:
    form = Router(name="provider.apply")
    form.message.filter(F.chat.type == "private")
    form.callback_query.filter(F.message.chat.type == "private")
    form.message.register(on_cancel, Command("cancel"), StateFilter(ApplyForm))
    form.message.register(on_apply, Command("apply"))
    form.callback_query.register(on_reapply, ActionCallback.filter(F.kind == "application.reapply"))

    form.message.register(on_name, Step.name, TEXT)
    form.message.register(on_bio, Step.bio, TEXT)
    form.callback_query.register(on_skip_bio, Step.bio, ApplyStep.filter(F.action == "skip"))
    form.message.register(on_photo, Step.photos, F.photo)
    form.callback_query.register(on_photos_done, Step.photos, ApplyStep.filter(F.action == "done"))
    form.message.register(on_voice, Step.voice, F.voice)
    form.callback_query.register(on_skip_voice, Step.voice, ApplyStep.filter(F.action == "skip"))
    form.callback_query.register(on_category, Step.category, ApplyCategory.filter())
    form.callback_query.register(
        on_categories_back, Step.category, ApplyStep.filter(F.action == "back")
    )
    form.message.register(on_price, Step.price, TEXT)
    form.message.register(on_per_km, Step.per_km, TEXT)
    form.callback_query.register(on_offer_add, Step.offers, ApplyStep.filter(F.action == "add"))
    form.callback_query.register(
        on_offer_remove, Step.offers, ApplyStep.filter(F.action == "remove")
    )
    form.callback_query.register(on_offers_done, Step.offers, ApplyStep.filter(F.action == "done"))
    form.message.register(on_location, Step.location, F.location)
    form.message.register(on_radius_text, Step.radius, TEXT)
    form.callback_query.register(on_radius, Step.radius, ApplyStep.filter(F.action == "radius"))
    form.message.register(on_hours_text, Step.hours, TEXT)
    form.callback_query.register(on_hours_preset, Step.hours, ApplyStep.filter(F.action == "hours"))
    form.message.register(on_id_photo, Step.id_photo, F.photo | F.document)
    form.message.register(on_certificate, Step.certificate, F.photo | F.document)
    form.callback_query.register(on_submit, Step.review, ApplyStep.filter(F.action == "submit"))
    form.callback_query.register(on_edit, Step.review, ApplyStep.filter(F.action == "edit"))
    form.callback_query.register(on_cancel_button, StateFilter(ApplyForm), ApplyStep.filter(F.action == "cancel"))
    # Anything else during the form: say again what this step needs.
    form.message.register(on_unexpected, StateFilter(ApplyForm), ~F.text.startswith("/"))
    return form


# -- opening and closing --------------------------------------------------------------------


async def on_apply(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    if await state.get_state() in {s.state for s in STEPS}:
        await message.answer(gettext("tg.apply.resume", locale))
        await ask(message, state, locale, bus)
        return
    await begin(message, state, locale, bus)


async def on_reapply(callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    await callback.answer()
    await begin(callback.message, state, locale, bus)


async def begin(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await drafts.start(state, DRAFT, {"photos": [], "offers": [], "rules": []})
    await message.answer(gettext("tg.apply.intro", locale))
    await goto(message, state, locale, bus, Step.name)


async def on_cancel(message: Message, state: FSMContext, locale: str) -> None:
    await drafts.finish(state, DRAFT)
    await message.answer(gettext("tg.apply.cancelled", locale), reply_markup=ReplyKeyboardRemove())


async def on_cancel_button(callback: CallbackQuery, state: FSMContext, locale: str) -> None:
    await drafts.finish(state, DRAFT)
    await _close_card(callback, gettext("tg.apply.cancelled", locale))


# -- profile --------------------------------------------------------------------------------


async def on_name(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.text is not None
    profile = ProfileDraft(display_name=message.text).validated()
    await drafts.keep(state, DRAFT, name=profile.display_name)
    await advance(message, state, locale, bus, Step.name)


async def on_bio(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    profile = ProfileDraft(display_name=data.get("name") or "-", bio=message.text).validated()
    await drafts.keep(state, DRAFT, bio=profile.bio)
    await advance(message, state, locale, bus, Step.bio)


async def on_skip_bio(callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await drafts.keep(state, DRAFT, bio="")
    await _step_done(callback, state, locale, bus, Step.bio)


async def on_photo(message: Message, state: FSMContext, locale: str) -> None:
    photo = file_of(message)
    assert photo is not None
    data = await drafts.draft(state, DRAFT)
    photos = check_file_refs((*data.get("photos", []), photo), what="photos", maximum=MAX_PHOTOS)
    await drafts.keep(state, DRAFT, photos=list(photos))
    await message.answer(
        gettext("tg.apply.photos.saved", locale, count=len(photos), maximum=MAX_PHOTOS),
        reply_markup=_buttons((gettext("tg.apply.button.done", locale), ApplyStep(action="done"))),
    )


async def on_photos_done(callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await _step_done(callback, state, locale, bus, Step.photos)


async def on_voice(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await drafts.keep(state, DRAFT, voice=file_of(message))
    await advance(message, state, locale, bus, Step.voice)


async def on_skip_voice(callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await drafts.keep(state, DRAFT, voice=None)
    await _step_done(callback, state, locale, bus, Step.voice)


# -- services -------------------------------------------------------------------------------


async def on_category(
    callback: CallbackQuery, callback_data: ApplyCategory, state: FSMContext, locale: str,
    bus: MessageBus,
) -> None:
    categories = await _categories(bus)
    chosen = next((c for c in categories if c.id == callback_data.category_id), None)
    assert isinstance(callback.message, Message)
    if chosen is None:
        await callback.answer(gettext("tg.button.stale", locale), show_alert=True)
        return
    children = [c for c in categories if c.parent_id == chosen.id]
    if children:
        await callback.message.edit_reply_markup(
            reply_markup=_category_keyboard(children, locale, back=True)
        )
        await callback.answer()
        return
    await drafts.keep(state, DRAFT, pending={
        "category_id": chosen.id, "name_zh": chosen.name_zh, "name_en": chosen.name_en,
        "kind": chosen.kind.value, "pricing_unit": chosen.pricing_unit.value,
        "min_units": chosen.min_units,
    })
    await _close_card(callback, gettext("tg.apply.category.chosen", locale, name=chosen.name(locale)))
    await goto(callback.message, state, locale, bus, Step.price)


async def on_categories_back(callback: CallbackQuery, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    top = [c for c in await _categories(bus) if c.parent_id is None]
    await callback.message.edit_reply_markup(reply_markup=_category_keyboard(top, locale))
    await callback.answer()


async def on_price(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.text is not None
    price = check_unit_price(parse_money(message.text))
    data = await drafts.draft(state, DRAFT)
    pending = {**data["pending"], "amount": price.amount, "currency": price.currency}
    await drafts.keep(state, DRAFT, pending=pending)
    if pending["pricing_unit"] == PricingUnit.BASE_PER_KM.value:
        await goto(message, state, locale, bus, Step.per_km)
        return
    await _keep_offer(state, pending)
    await goto(message, state, locale, bus, Step.offers)


async def on_per_km(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.text is not None
    data = await drafts.draft(state, DRAFT)
    pending = data["pending"]
    price = check_unit_price(parse_money(message.text, pending["currency"]))
    await _keep_offer(state, {**pending, "per_km": price.amount})
    await goto(message, state, locale, bus, Step.offers)


async def _keep_offer(state: FSMContext, offer: dict[str, Any]) -> None:
    """Add the offer; a second price for the same category replaces the first."""
    data = await drafts.draft(state, DRAFT)
    offers = [o for o in data.get("offers", []) if o["category_id"] != offer["category_id"]]
    await drafts.keep(state, DRAFT, offers=[*offers, offer], pending=None)


async def on_offer_add(callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert isinstance(callback.message, Message)
    await _close_card(callback, None)
    await goto(callback.message, state, locale, bus, Step.category)


async def on_offer_remove(
    callback: CallbackQuery, callback_data: ApplyStep, state: FSMContext, locale: str,
    bus: MessageBus,
) -> None:
    assert isinstance(callback.message, Message)
    data = await drafts.draft(state, DRAFT)
    offers = [o for o in data.get("offers", []) if o["category_id"] != callback_data.value]
    await drafts.keep(state, DRAFT, offers=offers)
    await _close_card(callback, None)
    await goto(callback.message, state, locale, bus, Step.offers)


async def on_offers_done(callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus) -> None:
    if not (await drafts.draft(state, DRAFT)).get("offers"):
        await callback.answer(gettext("tg.apply.offers.none", locale), show_alert=True)
        return
    await _step_done(callback, state, locale, bus, Step.offers)


# -- where and when -------------------------------------------------------------------------


async def on_location(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.location is not None
    point = GeoPoint(message.location.latitude, message.location.longitude)
    await drafts.keep(state, DRAFT, location=[point.lat, point.lon])
    await message.answer(gettext("tg.apply.location.saved", locale), reply_markup=ReplyKeyboardRemove())
    await advance(message, state, locale, bus, Step.location)


async def on_radius_text(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.text is not None
    digits = message.text.strip().lower().removesuffix("km").strip()
    radius = int(digits) if digits.isdigit() else 0
    await _keep_radius(state, radius)
    await advance(message, state, locale, bus, Step.radius)


async def on_radius(
    callback: CallbackQuery, callback_data: ApplyStep, state: FSMContext, locale: str,
    bus: MessageBus,
) -> None:
    await _keep_radius(state, callback_data.value)
    await _step_done(callback, state, locale, bus, Step.radius)


async def _keep_radius(state: FSMContext, radius: int) -> None:
    data = await drafts.draft(state, DRAFT)
    profile = ProfileDraft(display_name=data.get("name") or "-", service_radius_km=radius).validated()
    await drafts.keep(state, DRAFT, radius_km=profile.service_radius_km)


async def on_hours_text(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    assert message.text is not None
    await _keep_hours(state, parse_hours(message.text))
    await advance(message, state, locale, bus, Step.hours)


async def on_hours_preset(
    callback: CallbackQuery, callback_data: ApplyStep, state: FSMContext, locale: str,
    bus: MessageBus,
) -> None:
    hours, days = HOUR_PRESETS[callback_data.value % len(HOUR_PRESETS)]
    await _keep_hours(state, tuple(WeeklyRule.parse(f"{WEEKDAYS[d]} {hours}") for d in days))
    await _step_done(callback, state, locale, bus, Step.hours)


async def _keep_hours(state: FSMContext, rules: tuple[WeeklyRule, ...]) -> None:
    plan = AvailabilityPlan(rules=rules).validated()
    await drafts.keep(state, DRAFT, rules=[rule.label() for rule in plan.rules])


# -- documents ------------------------------------------------------------------------------


async def on_id_photo(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await drafts.keep(state, DRAFT, id_photo=document_ref(message))
    await advance(message, state, locale, bus, Step.id_photo)


async def on_certificate(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await drafts.keep(state, DRAFT, certificate=document_ref(message))
    await advance(message, state, locale, bus, Step.certificate)


def document_ref(message: Message) -> str:
    """A document's file as "photo:<file id>" or "document:<file id>", so an operator's
    screen can show it the way it was sent."""
    if message.photo:
        return f"photo:{message.photo[-1].file_id}"
    assert message.document is not None
    return f"document:{message.document.file_id}"


# -- the summary ----------------------------------------------------------------------------


async def on_edit(
    callback: CallbackQuery, callback_data: ApplyStep, state: FSMContext, locale: str,
    bus: MessageBus,
) -> None:
    assert isinstance(callback.message, Message)
    name, step = SECTIONS[callback_data.value % len(SECTIONS)]
    if name == "photos":
        await drafts.keep(state, DRAFT, photos=[])
    await drafts.keep(state, DRAFT, editing=True)
    await _close_card(callback, None)
    await goto(callback.message, state, locale, bus, step)


async def on_submit(
    callback: CallbackQuery, state: FSMContext, actor: Actor, locale: str, bus: MessageBus,
) -> None:
    data = await drafts.draft(state, DRAFT)
    user = await bus.handle(GetUser(user_id=actor.user_id, actor_id=actor.user_id))
    location = data.get("location")
    documents = [Document(DocumentKind.ID_PHOTO, data["id_photo"])] if data.get("id_photo") else []
    if data.get("certificate") and _needs(data, CERTIFIED_KINDS):
        documents.append(Document(DocumentKind.CERTIFICATE, data["certificate"]))
    local = _needs(data, LOCAL_KINDS)
    application = await bus.handle(SubmitApplication(
        user_id=actor.user_id,
        profile=ProfileDraft(
            display_name=data.get("name", ""),
            bio=data.get("bio", ""),
            photos=tuple(data.get("photos", [])),
            voice_intro=data.get("voice"),
            location=GeoPoint(*location) if location and local else None,
            service_radius_km=data.get("radius_km") if local else None,
            timezone=user.timezone,
        ),
        offers=tuple(_offer(o) for o in data.get("offers", [])),
        availability=AvailabilityPlan(rules=tuple(WeeklyRule.parse(r) for r in data.get("rules", []))),
        documents=tuple(documents),
        actor_id=actor.user_id,
        idempotency_key=f"tg:cb:{callback.id}",
    ))
    await drafts.finish(state, DRAFT)
    assert isinstance(callback.message, Message)
    await callback.message.edit_text(
        summary(data, locale) + "\n\n" + gettext("tg.apply.sent", locale, application_id=application.id)
    )
    await callback.answer(gettext("tg.apply.sent_short", locale))


def _offer(offer: dict[str, Any]) -> OfferDraft:
    currency = offer["currency"]
    per_km = offer.get("per_km")
    return OfferDraft(
        category_id=offer["category_id"],
        unit_price=Money(offer["amount"], currency),
        min_units=max(1, int(offer.get("min_units") or 1)),
        per_km_price=Money(per_km, currency) if per_km else None,
    )


# -- anything else --------------------------------------------------------------------------


async def on_unexpected(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    await message.answer(gettext("tg.apply.unexpected", locale))
    await ask(message, state, locale, bus)


# -- moving through the form ----------------------------------------------------------------


def _needs(data: dict[str, Any], kinds: frozenset[Any]) -> bool:
    return any(o.get("kind") in {k.value for k in kinds} for o in data.get("offers", []))


def _applies(step: State, data: dict[str, Any]) -> bool:
    if step is Step.per_km:
        pending = data.get("pending") or {}
        return pending.get("pricing_unit") == PricingUnit.BASE_PER_KM.value
    if step in (Step.location, Step.radius):
        return _needs(data, LOCAL_KINDS)
    if step is Step.certificate:
        return _needs(data, CERTIFIED_KINDS)
    return True


def _first_missing(data: dict[str, Any]) -> State | None:
    """The first part a change left unanswered (e.g. a new on-site service needs an area)."""
    if not data.get("offers"):
        return Step.category
    if _needs(data, LOCAL_KINDS) and not data.get("location"):
        return Step.location
    if _needs(data, LOCAL_KINDS) and not data.get("radius_km"):
        return Step.radius
    if not data.get("rules"):
        return Step.hours
    if not data.get("id_photo"):
        return Step.id_photo
    if _needs(data, CERTIFIED_KINDS) and not data.get("certificate"):
        return Step.certificate
    return None


def next_step(after: State, data: dict[str, Any]) -> State:
    if data.get("editing") and after in SECTION_ENDS:
        return _first_missing(data) or Step.review
    index = STEPS.index(after)
    for step in STEPS[index + 1:]:
        if _applies(step, data):
            return step
    return Step.review


async def advance(message: Message, state: FSMContext, locale: str, bus: MessageBus, after: State) -> None:
    await goto(message, state, locale, bus, next_step(after, await drafts.draft(state, DRAFT)))


async def _step_done(
    callback: CallbackQuery, state: FSMContext, locale: str, bus: MessageBus, after: State
) -> None:
    assert isinstance(callback.message, Message)
    await _close_card(callback, None)
    await advance(callback.message, state, locale, bus, after)


async def goto(message: Message, state: FSMContext, locale: str, bus: MessageBus, step: State) -> None:
    await state.set_state(step)
    if step is Step.review:
        await drafts.keep(state, DRAFT, editing=False)
    await ask(message, state, locale, bus)


async def ask(message: Message, state: FSMContext, locale: str, bus: MessageBus) -> None:
    """Send the question of the current step, with its buttons."""
    current = await state.get_state()
    step = next((s for s in STEPS if s.state == current), Step.name)
    data = await drafts.draft(state, DRAFT)
    name = step.state.split(":")[-1] if step.state else "name"
    text = gettext(f"tg.apply.ask.{name}", locale)
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None
    if step is Step.bio or step is Step.voice:
        markup = _buttons((gettext("tg.apply.button.skip", locale), ApplyStep(action="skip")))
    elif step is Step.photos:
        # Photos are optional: with none yet, the same button skips them.
        label = "tg.apply.button.done" if data.get("photos") else "tg.apply.button.skip"
        markup = _buttons((gettext(label, locale), ApplyStep(action="done")))
    elif step is Step.category:
        top = [c for c in await _categories(bus) if c.parent_id is None]
        markup = _category_keyboard(top, locale)
    elif step is Step.price or step is Step.per_km:
        pending = data.get("pending") or {}
        unit = unit_name(pending.get("pricing_unit", "hour"), locale)
        text = gettext(f"tg.apply.ask.{name}", locale, unit=unit, currency=pending.get("currency", ""))
    elif step is Step.offers:
        text = offers_text(data, locale) + "\n\n" + text
        markup = _offers_keyboard(data, locale)
    elif step is Step.location:
        markup = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=gettext("tg.apply.button.location", locale), request_location=True)]],
            resize_keyboard=True, one_time_keyboard=True,
        )
    elif step is Step.radius:
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=f"{km} km", callback_data=ApplyStep(action="radius", value=km).pack())
            for km in RADIUS_CHOICES
        ]])
    elif step is Step.hours:
        markup = InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(
                text=gettext(f"tg.apply.hours.preset_{index}", locale),
                callback_data=ApplyStep(action="hours", value=index).pack(),
            )]
            for index in range(len(HOUR_PRESETS))
        ])
    elif step is Step.review:
        text = summary(data, locale) + "\n\n" + text
        markup = _review_keyboard(data, locale)
    await message.answer(text, reply_markup=markup)


def summary(data: dict[str, Any], locale: str) -> str:
    lines = [
        gettext("tg.apply.summary.title", locale),
        gettext("tg.apply.summary.name", locale, name=data.get("name", "—")),
        gettext("tg.apply.summary.bio", locale, bio=data.get("bio") or "—"),
        gettext(
            "tg.apply.summary.media", locale, photos=len(data.get("photos", [])),
            voice=gettext("tg.pv.yes" if data.get("voice") else "tg.pv.no", locale),
        ),
        offers_text(data, locale),
    ]
    if _needs(data, LOCAL_KINDS):
        location = data.get("location") or ["—", "—"]
        lines.append(gettext(
            "tg.apply.summary.area", locale, lat=location[0], lon=location[1],
            radius=data.get("radius_km") or "—",
        ))
    lines.append(gettext("tg.apply.summary.hours", locale, hours=hours_text(data.get("rules", []), locale)))
    documents = gettext("tg.apply.summary.id_photo", locale,
                        done=gettext("tg.pv.yes" if data.get("id_photo") else "tg.pv.no", locale))
    if _needs(data, CERTIFIED_KINDS):
        documents += " · " + gettext(
            "tg.apply.summary.certificate", locale,
            done=gettext("tg.pv.yes" if data.get("certificate") else "tg.pv.no", locale),
        )
    lines.append(documents)
    return "\n".join(lines)


def offers_text(data: dict[str, Any], locale: str) -> str:
    offers = data.get("offers", [])
    if not offers:
        return gettext("tg.apply.summary.no_offers", locale)
    lines = [gettext("tg.apply.summary.offers", locale)]
    for offer in offers:
        price = Money(offer["amount"], offer["currency"]).format()
        line = gettext(
            "tg.apply.summary.offer", locale, category=_name(offer, locale), price=price,
            unit=unit_name(offer["pricing_unit"], locale),
        )
        if offer.get("per_km"):
            line += gettext("tg.apply.summary.per_km", locale,
                            price=Money(offer["per_km"], offer["currency"]).format())
        lines.append(line)
    return "\n".join(lines)


def _name(offer: dict[str, Any], locale: str) -> str:
    return str(offer["name_zh"] if locale == "zh" else offer["name_en"])


# -- keyboards ------------------------------------------------------------------------------


def _buttons(*buttons: tuple[str, ApplyStep]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=text, callback_data=data.pack())] for text, data in buttons
    ])


def _category_keyboard(categories: list[Category], locale: str, *, back: bool = False) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(text=c.name(locale), callback_data=ApplyCategory(category_id=c.id).pack())]
        for c in categories
    ]
    if back:
        rows.append([InlineKeyboardButton(
            text=gettext("tg.apply.button.back", locale), callback_data=ApplyStep(action="back").pack()
        )])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _offers_keyboard(data: dict[str, Any], locale: str) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(
        text=gettext("tg.apply.button.add_offer", locale), callback_data=ApplyStep(action="add").pack()
    )]]
    for offer in data.get("offers", []):
        rows.append([InlineKeyboardButton(
            text=gettext("tg.apply.button.remove_offer", locale, category=_name(offer, locale)),
            callback_data=ApplyStep(action="remove", value=offer["category_id"]).pack(),
        )])
    rows.append([InlineKeyboardButton(
        text=gettext("tg.apply.button.continue", locale), callback_data=ApplyStep(action="done").pack()
    )])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _review_keyboard(data: dict[str, Any], locale: str) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(
        text=gettext("tg.apply.button.submit", locale), callback_data=ApplyStep(action="submit").pack()
    )]]
    edits = []
    for index, (name, step) in enumerate(SECTIONS):
        if step is Step.location and not _needs(data, LOCAL_KINDS):
            continue
        if step is Step.certificate and not _needs(data, CERTIFIED_KINDS):
            continue
        edits.append(InlineKeyboardButton(
            text=gettext(f"tg.apply.edit.{name}", locale),
            callback_data=ApplyStep(action="edit", value=index).pack(),
        ))
    rows.extend(edits[i:i + 2] for i in range(0, len(edits), 2))
    rows.append([InlineKeyboardButton(
        text=gettext("tg.apply.button.cancel", locale), callback_data=ApplyStep(action="cancel").pack()
    )])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _categories(bus: MessageBus) -> list[Category]:
    categories: list[Category] = await bus.handle(ListCategories(include_inactive=False))
    return categories


async def _close_card(callback: CallbackQuery, text: str | None) -> None:
    """Take the buttons off the message that was answered (and say what was chosen)."""
    if isinstance(callback.message, Message):
        if text is not None:
            await callback.message.edit_text(text)
        else:
            await callback.message.edit_reply_markup(reply_markup=None)
    await callback.answer()

