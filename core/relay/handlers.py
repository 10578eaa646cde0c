"""Handlers of the relay: routing messages between the two sides of an order, masking
contacts and striking their senders, the pair table, transcripts, SOS, and the conversation
lifecycle driven by booking's order events.

Dependencies by parameter name: `clock`, `relay_policy`, and for the hot path `relay_routes`
(a `RouteCache`) and `relay_journal` (a `RelayJournal`). With both, a message that needs no
write but its transcript row costs no read and no transaction of its own: its route comes
from the cache, its row goes in with other messages' rows (checked against the
conversation's version), and its delivered copies are written behind. Leaks, a new address
or a location take the unit of work as before. Without them (unit tests), everything goes
through the unit of work. A conversation opens knowing where each side is reached when they
have one account, and with both routes remembered, so a first message is a routine one too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from core.booking import events as booking
from core.identity import events as identity
from core.identity.guards import acting_user, ensure_can_act
from core.identity.model import Role, User, UserStatus
from core.identity.strikes import record_strike
from core.messagebus import Handler
from core.notices import DELIVERY_FAILURES
from core.ports import UnitOfWork
from core.relay import commands as c
from core.relay import events as ev
from core.relay import pending, routing
from core.relay.masking import Leak, LeakKind, MaskedText, mask, placeholder, sanitize
from core.relay.model import (
    ALBUM_KINDS,
    LOCATED,
    MAX_FILES,
    MAX_TEXT,
    Conversation,
    DeliveryMode,
    MessageKind,
    MessagePair,
    Participant,
    ParticipantRole,
    RelayedMessage,
    check_platform,
    check_ref,
    parse_kind,
)
from core.relay.policy import DEFAULT_RELAY_POLICY, RelayPolicy
from core.relay.ports import RelayJournal
from core.relay.routes import Route, RouteCache
from core.shared.audit import AuditEntry
from core.shared.clock import Clock
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.messages import Command, Event

log = logging.getLogger(__name__)

# Why a relayed copy did not arrive: the notice failures plus what only media can hit.
RELAY_FAILURES = DELIVERY_FAILURES | {"quota", "unsupported", "too_large"}
MAX_SWEEP = 5_000


# --- validation ----------------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    text = sanitize(value)
    if not text.strip():
        return None
    if len(text) > MAX_TEXT:
        raise DomainError("error.relay.text_too_long", limit=MAX_TEXT)
    return text


def _files(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(values) > MAX_FILES:
        raise DomainError("error.relay.too_many_files", limit=MAX_FILES)
    return tuple(check_ref(v, "files") or "" for v in values)


def _check_inbound(cmd: c.RouteInbound, kind: MessageKind, text: str | None,
                   files: tuple[str, ...]) -> None:
    if kind is MessageKind.TEXT and text is None:
        raise DomainError("error.relay.empty_message")
    if kind in LOCATED and cmd.location is None:
        raise DomainError("error.relay.location_required")
    if kind not in LOCATED and cmd.location is not None:
        raise DomainError("error.relay.location_not_expected", kind=kind.value)
    if kind not in (MessageKind.TEXT, MessageKind.CONTACT, *LOCATED) and not files:
        raise DomainError("error.relay.file_required", kind=kind.value)
    if cmd.media_group_id is not None and kind not in ALBUM_KINDS:
        raise DomainError("error.relay.not_album_kind", kind=kind.value)


def _sender_matches(cmd: c.RouteInbound | c.RouteEdit | c.RaiseSos) -> None:
    if cmd.actor_id is not None and cmd.actor_id != cmd.sender_user_id:
        raise Forbidden("error.relay.not_yours")


# --- routing -------------------------------------------------------------------------------


async def _replied_message(uow: UnitOfWork, platform: str, chat_id: str,
                           message_id: str) -> RelayedMessage | None:
    """The relayed message a reply points at: a copy the bot delivered into this chat, or
    the sender's own earlier message."""
    pair = await uow.relay_pairs.by_target(platform, chat_id, message_id)
    if pair is not None:
        return await uow.relay_messages.get(pair.relayed_message_id)
    return await uow.relay_messages.original(platform, chat_id, message_id)


async def _sender_route(uow: UnitOfWork, user_id: int, now: datetime,
                        routes: RouteCache | None, *, fresh: bool = False) -> tuple[Route, bool]:
    """Who sends, and where their messages may go: remembered (True), else read."""
    if routes is not None and not fresh:
        remembered = routes.get(user_id)
        if remembered is not None:
            ensure_can_act(remembered.user, now)
            return remembered, True
    token = routes.begin() if routes is not None else 0
    user = await acting_user(uow, user_id, now)
    open_conversations = await uow.conversations.open_for(user_id)
    selected_id = None
    if len(open_conversations) > 1:  # the choice only matters among several
        selected_id = await uow.conversations.selected(user_id)
    route = Route(user, tuple(open_conversations), selected_id)
    if routes is not None:
        routes.put(user_id, route, token)
    return route, False


async def _route(uow: UnitOfWork, cmd: c.RouteInbound, platform: str, chat_id: str,
                 route: Route) -> tuple[Conversation, RelayedMessage | None]:
    sender_id = route.user.id
    if cmd.reply_to_message_id is not None:
        reply_ref = check_ref(cmd.reply_to_message_id, "reply_to_message_id")
        assert reply_ref is not None
        replied = await _replied_message(uow, platform, chat_id, reply_ref)
        if replied is not None:
            conversation = await uow.conversations.get(replied.conversation_id)
            if routing.take_reply(conversation, sender_id):
                return conversation, replied
    if cmd.media_group_id is not None:
        group = check_ref(cmd.media_group_id, "media_group_id")
        assert group is not None
        earlier = await uow.relay_messages.album_conversation(sender_id, platform, chat_id, group)
        if earlier is not None:
            conversation = await uow.conversations.get(earlier)
            if routing.usable(conversation, sender_id):
                return conversation, None
    selected = next((x for x in route.conversations if x.id == route.selected_id), None)
    return routing.choose_default(sender_id, selected, route.conversations), None


async def _reply_target(uow: UnitOfWork, replied: RelayedMessage | None, platform: str,
                        chat_id: str) -> str | None:
    """The id, in the recipient's chat, of the message being answered."""
    if replied is None:
        return None
    if (replied.platform, replied.chat_id) == (platform, chat_id):
        return replied.message_id
    for pair in await uow.relay_pairs.of_message(replied.id):
        if (pair.to_platform, pair.to_chat_id) == (platform, chat_id):
            return pair.to_message_id
    return None


async def _targets(uow: UnitOfWork, conversation: Conversation, sender_id: int,
                   platform: str, kind: MessageKind, leaks: int,
                   replied: RelayedMessage | None) -> tuple[c.RelayTarget, ...]:
    targets = []
    for recipient in conversation.recipients(sender_id):
        reached = await _reach(uow, conversation, recipient, platform)
        if reached is None:
            continue
        address, locale = reached
        mode, replace_caption = routing.delivery_mode(kind, platform, address[0], leaks)
        targets.append(c.RelayTarget(
            user_id=recipient.user_id, role=recipient.role, platform=address[0],
            chat_id=address[1], locale=locale, mode=mode, replace_caption=replace_caption,
            reply_to_message_id=await _reply_target(uow, replied, *address),
        ))
    return tuple(targets)


async def _reach(uow: UnitOfWork, conversation: Conversation, recipient: Participant,
                 platform: str) -> tuple[tuple[str, str], str] | None:
    """Where and in which language to reach a recipient: as they last wrote in this
    conversation (no lookup, the common case), else from their accounts."""
    if recipient.platform and recipient.chat_id and recipient.locale:
        return (recipient.platform, recipient.chat_id), recipient.locale
    try:
        user = await uow.users.get(recipient.user_id)
    except NotFound:
        log.warning("relay recipient %s of order %s is gone", recipient.user_id,
                    conversation.order_number)
        return None
    accounts = [(a.platform, a.chat_id) for a in user.accounts]
    address = routing.address_for(recipient, accounts, platform)
    return None if address is None else (address, user.locale)


# --- leaks and strikes -----------------------------------------------------------------------


async def _punish_leaks(uow: UnitOfWork, conversation: Conversation, sender: Participant,
                        message: RelayedMessage, masked: MaskedText, policy: RelayPolicy,
                        now: datetime, routes: RouteCache | None = None) -> None:
    struck, strikes = 0, None
    if sender.role is not ParticipantRole.OPERATOR:
        earlier = await uow.relay_messages.leak_messages(conversation.id, sender.user_id) - 1
        if earlier >= policy.leak_warnings:
            struck = min(masked.count, policy.strikes_per_message)
    reason = f"contact_leak {conversation.order_number}: {', '.join(masked.kinds)}"
    for _ in range(struck):
        strikes = await record_strike(uow, sender.user_id, reason, now)
    if strikes is not None and policy.ban_at_strikes and strikes >= policy.ban_at_strikes:
        await _ban(uow, sender.user_id, strikes, policy, now)
        if routes is not None:
            routes.forget_user(sender.user_id)
    uow.emit(ev.ContactLeakMasked(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, sender_id=sender.user_id,
        relayed_message_id=message.id, kinds=masked.kinds, count=masked.count,
        struck=struck, strikes=strikes, at=now,
    ))


async def _ban(uow: UnitOfWork, user_id: int, strikes: int, policy: RelayPolicy,
               now: datetime) -> None:
    user = await uow.users.get(user_id)
    if user.status_at(now) is UserStatus.BANNED:
        return
    until = now + timedelta(days=policy.ban_days) if policy.ban_days else None
    reason = f"contact_leaks: {strikes} strikes"
    user.ban(reason=reason, until=until, actor_id=None, now=now)
    await uow.users.save(user)
    await uow.audit.add(AuditEntry(
        entity="user", entity_id=str(user_id), action="ban", actor_id=None, at=now,
        from_state="active", to_state="banned", reason=reason,
        data={"until": until.isoformat() if until else None, "source": "relay"},
    ))


def _masked(kind: MessageKind, text: str | None) -> MaskedText:
    if kind is MessageKind.CONTACT:
        # A contact card is a phone number by definition: nothing of it goes through.
        return MaskedText(placeholder("phone"), (Leak(LeakKind.PHONE, 0, 0),))
    if text is None:
        return MaskedText("", ())
    return mask(text)


# --- inbound, edits, pairs ---------------------------------------------------------------------


async def route_inbound(cmd: c.RouteInbound, uow: UnitOfWork, clock: Clock,
                        relay_policy: RelayPolicy = DEFAULT_RELAY_POLICY,
                        relay_routes: RouteCache | None = None,
                        relay_journal: RelayJournal | None = None) -> c.RelayPlan:
    now = clock.now()
    _sender_matches(cmd)
    platform = check_platform(cmd.platform)
    chat_id = check_ref(cmd.chat_id, "chat_id")
    message_id = check_ref(cmd.message_id, "message_id")
    assert chat_id is not None and message_id is not None
    kind = parse_kind(cmd.kind)
    text = _text(cmd.text)
    files = _files(cmd.files)
    _check_inbound(cmd, kind, text, files)
    media_group_id = check_ref(cmd.media_group_id, "media_group_id", required=False)
    masked = _masked(kind, text)
    if cmd.reply_to_message_id is not None and relay_journal is not None:
        await relay_journal.flush()  # the copy answered may still be on its way to storage
    stored: RelayedMessage | None = None
    fresh = False
    while stored is None:
        route, remembered = await _sender_route(uow, cmd.sender_user_id, now, relay_routes,
                                                fresh=fresh)
        sender = route.user
        conversation, replied = await _route(uow, cmd, platform, chat_id, route)
        participant = conversation.sender(sender.id)
        message = RelayedMessage(
            conversation_id=conversation.id, order_id=conversation.order_id,
            sender_id=sender.id, sender_role=participant.role, platform=platform,
            chat_id=chat_id, message_id=message_id, kind=kind,
            text=masked.text if masked.text else None, files=files, leak_kinds=masked.kinds,
            leak_count=masked.count, sent_at=now, media_group_id=media_group_id,
            location=cmd.location, reply_to_id=replied.id if replied else None,
        )
        moved = (participant.platform, participant.chat_id, participant.locale) != (
            platform, chat_id, sender.locale)
        quiet = not (moved or masked.count or cmd.location is not None)
        if relay_journal is not None and quiet and not fresh:
            # Nothing to write but the transcript row: no transaction of our own.
            stored = await relay_journal.append(message,
                                                conversation_version=conversation.version)
            if stored is None:  # the conversation changed elsewhere: read it afresh
                if relay_routes is not None:
                    relay_routes.forget_conversation(conversation)
                fresh = True
            continue
        if remembered:
            fresh = True  # writing in the unit of work: route on what it reads, not memory
            continue
        stored = await uow.relay_messages.add(message)
        if moved:
            await uow.conversations.remember_address(conversation.id, sender.id, platform,
                                                     chat_id, sender.locale)
        if cmd.location is not None:
            await uow.conversations.remember_location(conversation.id, sender.id, cmd.location,
                                                      now)
        if relay_routes is not None and (moved or cmd.location is not None):
            relay_routes.forget_conversation(conversation)
        if masked.count:
            await _punish_leaks(uow, conversation, participant, stored, masked, relay_policy,
                                now, relay_routes)
    if relay_routes is not None:
        relay_routes.remember_message(stored, conversation)
    return c.RelayPlan(
        relayed_message_id=stored.id, conversation_id=conversation.id,
        order_id=conversation.order_id, order_number=conversation.order_number,
        sender_id=sender.id, sender_role=participant.role, platform=platform, chat_id=chat_id,
        message_id=message_id, kind=kind, text=stored.text, leak_kinds=masked.kinds,
        leak_count=masked.count, files=files, media_group_id=media_group_id,
        location=cmd.location,
        targets=await _targets(uow, conversation, sender.id, platform, kind, masked.count,
                               replied),
    )


async def route_edit(cmd: c.RouteEdit, uow: UnitOfWork, clock: Clock,
                     relay_policy: RelayPolicy = DEFAULT_RELAY_POLICY,
                     relay_routes: RouteCache | None = None,
                     relay_journal: RelayJournal | None = None) -> c.EditPlan:
    now = clock.now()
    _sender_matches(cmd)
    if relay_journal is not None:
        await relay_journal.flush()  # the copies to edit may still be on their way to storage
    platform = check_platform(cmd.platform)
    chat_id = check_ref(cmd.chat_id, "chat_id")
    message_id = check_ref(cmd.message_id, "message_id")
    assert chat_id is not None and message_id is not None
    text = _text(cmd.text)
    if text is None and cmd.location is None:
        raise DomainError("error.relay.empty_edit")
    sender = await acting_user(uow, cmd.sender_user_id, now)
    original = await uow.relay_messages.original(platform, chat_id, message_id)
    if original is None or original.sender_id != sender.id:
        raise NotFound("error.relay.unknown_message")
    conversation = await uow.conversations.get(original.conversation_id)
    conversation.ensure_open()
    participant = conversation.sender(sender.id)
    masked = MaskedText("", ())
    edit_id = 0
    if cmd.location is not None:
        if original.kind not in LOCATED:
            raise DomainError("error.relay.not_a_location")
        await uow.relay_messages.set_location(original.id, cmd.location)
        await uow.conversations.remember_location(conversation.id, sender.id, cmd.location, now)
    else:
        if original.kind in LOCATED or original.kind is MessageKind.CONTACT:
            raise DomainError("error.relay.not_editable", kind=original.kind.value)
        masked = mask(text or "")
        edit = await uow.relay_messages.add(RelayedMessage(
            conversation_id=conversation.id, order_id=conversation.order_id,
            sender_id=sender.id, sender_role=participant.role, platform=platform,
            chat_id=chat_id, message_id=message_id, kind=original.kind, text=masked.text,
            files=original.files, leak_kinds=masked.kinds, leak_count=masked.count, sent_at=now,
            media_group_id=original.media_group_id, edit_of=original.id,
        ))
        edit_id = edit.id
        if masked.count:
            await _punish_leaks(uow, conversation, participant, edit, masked, relay_policy, now,
                                relay_routes)
    targets = []
    for pair in await uow.relay_pairs.by_source(platform, chat_id, message_id):
        recipient = conversation.participant(pair.to_user_id)
        if recipient is None:
            continue  # they left the conversation (reassigned): their copy stays as it was
        locale = recipient.locale or (await uow.users.get(pair.to_user_id)).locale
        mode = DeliveryMode.EDIT if pair.to_platform == platform else DeliveryMode.SEND
        targets.append(c.EditTarget(
            user_id=pair.to_user_id, platform=pair.to_platform, chat_id=pair.to_chat_id,
            message_id=pair.to_message_id, locale=locale, mode=mode,
        ))
    return c.EditPlan(
        relayed_message_id=original.id, edit_id=edit_id, conversation_id=conversation.id,
        order_id=conversation.order_id, order_number=conversation.order_number,
        sender_id=sender.id, kind=original.kind, text=masked.text or None,
        leak_kinds=masked.kinds, location=cmd.location, targets=tuple(targets),
    )


async def _relayed(uow: UnitOfWork, relayed_message_id: int) -> tuple[RelayedMessage, Conversation]:
    message = await uow.relay_messages.get(relayed_message_id)
    if message is None:
        raise NotFound("error.relay.unknown_message")
    return message, await uow.conversations.get(message.conversation_id)


async def record_relayed(cmd: c.RecordRelayed, uow: UnitOfWork, clock: Clock,
                         relay_routes: RouteCache | None = None,
                         relay_journal: RelayJournal | None = None) -> bool:
    """True when this copy was new; a repeated report changes nothing.

    With the journal the copy is written behind, and "new" means not reported lately."""
    platform = check_platform(cmd.to_platform)
    chat_id = check_ref(cmd.to_chat_id, "to_chat_id")
    message_id = check_ref(cmd.to_message_id, "to_message_id")
    assert chat_id is not None and message_id is not None
    routed = relay_routes.message(cmd.relayed_message_id) if relay_routes is not None else None
    if routed is not None:  # just routed here: no need to read it back
        message, took_part = routed.message, routed.took_part
        order_number = None
    else:
        message, conversation = await _relayed(uow, cmd.relayed_message_id)
        took_part = frozenset(p.user_id for p in conversation.participants)
        order_number = conversation.order_number
    if cmd.recipient_user_id not in took_part:
        if order_number is None:
            order_number = (await uow.conversations.get(message.conversation_id)).order_number
        raise Forbidden("error.relay.not_participant", order_number=order_number)
    if cmd.recipient_user_id == message.sender_id:
        raise DomainError("error.relay.copy_to_sender")
    pair = MessagePair(
        conversation_id=message.conversation_id, relayed_message_id=message.id,
        from_platform=message.platform, from_chat_id=message.chat_id,
        from_message_id=message.message_id, to_user_id=cmd.recipient_user_id,
        to_platform=platform, to_chat_id=chat_id, to_message_id=message_id,
        created_at=clock.now(),
    )
    if relay_journal is not None:
        return relay_journal.stage_pair(pair)
    return await uow.relay_pairs.add(pair)


async def report_relay_failed(cmd: c.ReportRelayFailed, uow: UnitOfWork, clock: Clock) -> None:
    if cmd.failure not in RELAY_FAILURES:
        raise DomainError("error.relay.unknown_failure", failure=cmd.failure,
                          failures=", ".join(sorted(RELAY_FAILURES)))
    message, conversation = await _relayed(uow, cmd.relayed_message_id)
    if not conversation.ever_took_part(cmd.recipient_user_id):
        raise Forbidden("error.relay.not_participant", order_number=conversation.order_number)
    now = clock.now()
    uow.emit(ev.RelayUndelivered(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, relayed_message_id=message.id,
        sender_id=message.sender_id, recipient_id=cmd.recipient_user_id,
        failure=cmd.failure, at=now,
    ))


# --- choosing, joining, closing ------------------------------------------------------------------


def _actor(cmd: Command) -> int:
    if cmd.actor_id is None:
        raise Forbidden("error.relay.actor_required")
    return cmd.actor_id


def _summary(conversation: Conversation, user_id: int, current: int | None) -> c.ConversationSummary:
    participant = conversation.participant(user_id)
    role = participant.role if participant else ParticipantRole.OPERATOR
    return c.ConversationSummary(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, role=role, status=conversation.status.value,
        opened_at=conversation.opened_at, close_at=conversation.close_at,
        current=conversation.id == current,
    )


async def _conversation_of(uow: UnitOfWork, order_id: int, *, for_update: bool = False) -> Conversation:
    conversation = await uow.conversations.for_order(order_id, for_update=for_update)
    if conversation is None:
        raise NotFound("error.relay.conversation_not_found", order_id=order_id)
    return conversation


async def list_conversations(cmd: c.ListConversations, uow: UnitOfWork,
                             clock: Clock) -> list[c.ConversationSummary]:
    user_id = _actor(cmd)
    await acting_user(uow, user_id, clock.now())
    selected = await uow.conversations.selected(user_id)
    open_conversations = await uow.conversations.open_for(user_id)
    if selected is None and len(open_conversations) == 1:
        selected = open_conversations[0].id  # the only one is current without choosing
    return [_summary(x, user_id, selected) for x in open_conversations]


async def select_conversation(cmd: c.SelectConversation, uow: UnitOfWork, clock: Clock,
                              relay_routes: RouteCache | None = None) -> c.ConversationSummary:
    now = clock.now()
    user_id = _actor(cmd)
    await acting_user(uow, user_id, now)
    conversation = await _conversation_of(uow, cmd.order_id)
    conversation.ensure_open()
    conversation.sender(user_id)
    await uow.conversations.select(user_id, conversation.id, now)
    if relay_routes is not None:
        relay_routes.forget_user(user_id)
    return _summary(conversation, user_id, conversation.id)


async def join_conversation(cmd: c.JoinConversation, uow: UnitOfWork, clock: Clock,
                            relay_routes: RouteCache | None = None) -> c.ConversationSummary:
    now = clock.now()
    operator_id = _actor(cmd)
    operator = await acting_user(uow, operator_id, now)
    if not operator.has_role(Role.OPERATOR):
        raise Forbidden("error.relay.operators_only")
    conversation = await _conversation_of(uow, cmd.order_id, for_update=True)
    conversation.join(operator_id, now)
    await uow.conversations.save(conversation)
    await uow.conversations.select(operator_id, conversation.id, now)
    _forget(relay_routes, conversation)
    await _audit(uow, conversation, "chat_join", operator_id, now,
                 data={"disputed": conversation.disputed})
    return _summary(conversation, operator_id, conversation.id)


async def close_idle_conversations(cmd: c.CloseIdleConversations, uow: UnitOfWork,
                                   clock: Clock, relay_routes: RouteCache | None = None) -> int:
    """How many conversations this sweep closed."""
    now = cmd.now or clock.now()
    if not 1 <= cmd.limit <= MAX_SWEEP:
        raise DomainError("error.relay.invalid_limit", limit=cmd.limit, most=MAX_SWEEP)
    closed = 0
    for conversation_id in await uow.conversations.due_to_close(now, cmd.limit):
        conversation = await uow.conversations.get(conversation_id, for_update=True)
        if not conversation.is_due(now):
            continue  # somebody reopened or closed it meanwhile
        conversation.close(now, "order_ended")
        await uow.conversations.save(conversation)
        _forget(relay_routes, conversation)
        await _audit(uow, conversation, "chat_close", cmd.actor_id, now, reason="order_ended")
        closed += 1
    return closed


# --- transcript and SOS ------------------------------------------------------------------------


async def get_transcript(cmd: c.GetTranscript, uow: UnitOfWork, clock: Clock,
                         relay_journal: RelayJournal | None = None) -> c.Transcript:
    if (cmd.order_id is None) == (cmd.order_number is None):
        raise DomainError("error.relay.order_required")
    if relay_journal is not None:
        await relay_journal.flush()  # who got a copy: the last copies may be on their way
    if cmd.order_id is not None:
        conversation = await _conversation_of(uow, cmd.order_id)
    else:
        number = (cmd.order_number or "").strip().upper()
        found = await uow.conversations.for_order_number(number)
        if found is None:
            raise NotFound("error.relay.conversation_not_found", order_id=number)
        conversation = found
    if cmd.actor_id is not None:
        reader = await acting_user(uow, cmd.actor_id, clock.now())
        party = any(p.user_id == reader.id and p.role is not ParticipantRole.OPERATOR
                    for p in conversation.participants)
        if not party and not reader.has_role(Role.OPERATOR):
            raise Forbidden("error.relay.transcript_forbidden", order_number=conversation.order_number)
    messages = await uow.relay_messages.of_conversation(conversation.id)
    delivered = await uow.relay_pairs.recipients_of([m.id for m in messages])
    entries = tuple(
        c.TranscriptEntry(
            id=m.id, at=m.sent_at, sender_id=m.sender_id, sender_role=m.sender_role,
            kind=m.kind, text=m.text, files=m.files, leak_kinds=m.leak_kinds,
            media_group_id=m.media_group_id, location=m.location, reply_to_id=m.reply_to_id,
            edit_of=m.edit_of, delivered_to=delivered.get(m.edit_of or m.id, ()),
        )
        for m in messages
    )
    return c.Transcript(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, status=conversation.status.value,
        service_kind=conversation.service_kind, customer_id=conversation.customer_id,
        provider_ids=tuple(p.user_id for p in conversation.participants
                           if p.role is ParticipantRole.PROVIDER),
        operator_ids=tuple(p.user_id for p in conversation.participants
                           if p.role is ParticipantRole.OPERATOR),
        opened_at=conversation.opened_at, closed_at=conversation.closed_at, entries=entries,
    )


async def raise_sos(cmd: c.RaiseSos, uow: UnitOfWork, clock: Clock) -> ev.SosRaised:
    now = clock.now()
    _sender_matches(cmd)
    # No ban check: somebody in danger is heard whatever their standing.
    user = await uow.users.get(cmd.sender_user_id)
    conversation = await _conversation_of(uow, cmd.order_id)
    participant = conversation.ensure_sos_allowed(user.id)
    location, location_at, source = participant.last_location, participant.last_location_at, None
    if cmd.location is not None:
        location, location_at, source = cmd.location, now, "sos"
        await uow.conversations.remember_location(conversation.id, user.id, cmd.location, now)
    elif location is not None:
        source = "shared"
    alert = ev.SosRaised(
        conversation_id=conversation.id, order_id=conversation.order_id,
        order_number=conversation.order_number, service_kind=conversation.service_kind,
        raised_by=user.id, raised_by_role=participant.role.value,
        customer_id=conversation.customer_id, provider_id=conversation.provider_id or 0,
        operator_ids=conversation.operator_ids,
        latitude=location.latitude if location else None,
        longitude=location.longitude if location else None,
        location_at=location_at, location_source=source, raised_at=now,
    )
    uow.emit(alert)
    await _audit(uow, conversation, "sos", user.id, now,
                 data={"location_source": source, "role": participant.role.value})
    return alert


# --- the order's lifecycle -----------------------------------------------------------------------


async def _audit(uow: UnitOfWork, conversation: Conversation, action: str, actor_id: int | None,
                 at: datetime, *, reason: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
    await uow.audit.add(AuditEntry(
        entity="order", entity_id=str(conversation.order_id), action=action, actor_id=actor_id,
        at=at, to_state=conversation.status.value, reason=reason,
        data={"conversation_id": conversation.id, **(data or {})},
    ))


async def _service_kind(uow: UnitOfWork, order_id: int) -> str | None:
    """The order's kind, for an `OrderAccepted` stored before events carried it."""
    orders = getattr(uow, "orders", None)
    if orders is None:
        return None
    try:
        order = await orders.get(order_id)
    except NotFound:
        return None
    return str(order.kind)


def _forget(routes: RouteCache | None, conversation: Conversation) -> None:
    if routes is not None:
        routes.forget_conversation(conversation)


async def _people(uow: UnitOfWork, user_ids: Sequence[int]) -> dict[int, User]:
    """The users of `user_ids` that exist, by id, in one read."""
    people = await uow.users.get_many(user_ids)
    for user_id in user_ids:
        if user_id not in people:
            log.warning("relay participant %s is gone", user_id)
    return people


def _address_known(participant: Participant, user: User | None) -> None:
    """Give a participant who has not written yet the address `_reach` would find for them,
    so neither their first message nor one sent to them needs to look them up."""
    if user is None:
        return
    address = routing.known_address([(a.platform, a.chat_id) for a in user.accounts])
    if address is not None:
        participant.platform, participant.chat_id = address
        participant.locale = user.locale


async def _remember_routes(uow: UnitOfWork, routes: RouteCache, people: dict[int, User],
                           now: datetime, token: int) -> None:
    """Put the routes `_sender_route` would read for these people into the cache, so their
    first messages take the fast path. Someone who may not act is left to be refused there."""
    able = [user for user in people.values() if user.status_at(now) is UserStatus.ACTIVE]
    if not able:
        return
    open_conversations = await uow.conversations.open_for_each([user.id for user in able])
    for user in able:
        mine = open_conversations.get(user.id, [])
        selected_id = await uow.conversations.selected(user.id) if len(mine) > 1 else None
        routes.put(user.id, Route(user, tuple(mine), selected_id), token)


async def on_order_accepted(event: booking.OrderAccepted, uow: UnitOfWork, clock: Clock,
                            relay_routes: RouteCache | None = None) -> None:
    """Open (or hand to the new provider) the order's conversation. Participants who are
    reached on one account only get that address now, and, with the route cache, both sides'
    routes are remembered at once: the first message of each costs what a routine one does.
    A remembered route is checked against the conversation's version when its message is
    stored, so one put here for a transaction that then fails is read afresh."""
    if event.provider_id is None:
        return
    now = clock.now()
    if relay_routes is not None:  # a new conversation for both (the old provider's is gone)
        relay_routes.forget_user(event.customer_id, event.provider_id)
    conversation = await uow.conversations.for_order(event.order_id, for_update=True)
    if conversation is None:
        token = relay_routes.begin() if relay_routes is not None else 0
        conversation = Conversation.open(
            order_id=event.order_id, order_number=event.order_number,
            customer_id=event.customer_id, provider_id=event.provider_id,
            service_kind=event.service_kind or await _service_kind(uow, event.order_id), at=now,
        )
        people = await _people(uow, [event.customer_id, event.provider_id])
        for participant in conversation.participants:
            _address_known(participant, people.get(participant.user_id))
        await uow.conversations.add(conversation)
        conversation.record_opened()
        await _audit(uow, conversation, "chat_open", None, now)
        if relay_routes is not None:
            await _remember_routes(uow, relay_routes, people, now, token)
        return
    stored = {p.user_id for p in conversation.participants}
    if conversation.provider_accepted(event.provider_id, now):
        # Only a participant new to the conversation takes an address here: a stored one
        # keeps where they last wrote.
        joining = [p for p in conversation.participants if p.user_id not in stored]
        people = await _people(uow, [p.user_id for p in joining])
        for participant in joining:
            _address_known(participant, people.get(participant.user_id))
        await uow.conversations.save(conversation)
        _forget(relay_routes, conversation)
        await _audit(uow, conversation, "chat_open", None, now,
                     data={"provider_id": event.provider_id})


async def on_order_reassigned(event: booking.OrderReassigned, uow: UnitOfWork,
                              clock: Clock, relay_routes: RouteCache | None = None) -> None:
    conversation = await uow.conversations.for_order(event.order_id, for_update=True)
    if conversation is None or conversation.provider_id is None:
        return
    now = clock.now()
    was_open = conversation.is_open
    conversation.provider_withdrawn(now)
    await uow.conversations.save(conversation)
    _forget(relay_routes, conversation)
    if was_open:
        await _audit(uow, conversation, "chat_close", None, now, reason="reassigned")


async def _order_ended(order_id: int, at: datetime, uow: UnitOfWork, policy: RelayPolicy,
                       routes: RouteCache | None) -> None:
    conversation = await uow.conversations.for_order(order_id, for_update=True)
    if conversation is not None and conversation.order_ended(at, policy.close_after):
        await uow.conversations.save(conversation)
        _forget(routes, conversation)


async def on_order_completed(event: booking.OrderCompleted, uow: UnitOfWork, clock: Clock,
                             relay_policy: RelayPolicy = DEFAULT_RELAY_POLICY,
                             relay_routes: RouteCache | None = None) -> None:
    await _order_ended(event.order_id, event.completed_at, uow, relay_policy, relay_routes)


async def on_order_closed(event: booking.OrderEvent, uow: UnitOfWork, clock: Clock,
                          relay_policy: RelayPolicy = DEFAULT_RELAY_POLICY,
                          relay_routes: RouteCache | None = None) -> None:
    """Cancelled, no-show, expired, rejected, or a dispute resolved: the order is over."""
    await _order_ended(event.order_id, clock.now(), uow, relay_policy, relay_routes)


async def on_dispute_opened(event: booking.DisputeOpened, uow: UnitOfWork, clock: Clock,
                            relay_routes: RouteCache | None = None) -> None:
    conversation = await uow.conversations.for_order(event.order_id, for_update=True)
    if conversation is None:
        return
    now = clock.now()
    conversation.dispute_opened(now)
    await uow.conversations.save(conversation)
    _forget(relay_routes, conversation)
    await _audit(uow, conversation, "chat_dispute", None, now)


async def on_locale_changed(event: identity.LocaleChanged, uow: UnitOfWork, clock: Clock,
                            relay_routes: RouteCache | None = None) -> None:
    """Messages for someone go out in the language they read now: the one stored with their
    address in their open conversations follows their setting."""
    for conversation in await uow.conversations.open_for(event.user_id):
        participant = conversation.participant(event.user_id)
        if (participant is None or participant.platform is None or participant.chat_id is None
                or participant.locale in (None, event.locale)):
            continue
        await uow.conversations.remember_address(conversation.id, event.user_id,
                                                 participant.platform, participant.chat_id,
                                                 event.locale)
        _forget(relay_routes, conversation)


async def on_user_banned(event: identity.UserBanned, uow: UnitOfWork, clock: Clock,
                         relay_routes: RouteCache | None = None) -> None:
    """A banned sender is refused at their next message, not when their route expires."""
    if relay_routes is not None:
        relay_routes.forget_user(event.user_id)


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    c.RouteInbound: route_inbound,
    c.RouteEdit: route_edit,
    c.RecordRelayed: record_relayed,
    c.ReportRelayFailed: report_relay_failed,
    c.ListConversations: list_conversations,
    c.SelectConversation: select_conversation,
    c.JoinConversation: join_conversation,
    c.CloseIdleConversations: close_idle_conversations,
    c.GetTranscript: get_transcript,
    c.RaiseSos: raise_sos,
    **pending.COMMAND_HANDLERS,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    booking.OrderAccepted: [on_order_accepted],
    booking.OrderReassigned: [on_order_reassigned],
    booking.OrderCompleted: [on_order_completed],
    booking.OrderCancelled: [on_order_closed],
    booking.OrderNoShow: [on_order_closed],
    booking.OrderExpired: [on_order_closed],
    booking.OrderRejected: [on_order_closed],
    booking.DisputeResolved: [on_order_closed],
    booking.DisputeOpened: [on_dispute_opened],
    identity.UserBanned: [on_user_banned],
    identity.LocaleChanged: [on_locale_changed],
    **pending.EVENT_HANDLERS,
}
