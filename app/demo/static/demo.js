// Yueban demo: several Telegram chats side by side, driven through the local Bot API stand-in.
//
// The page only talks to the stand-in: `/_standin/...` to act as a person (type, tap, pay,
// share a location) and to follow every chat (a long poll of chat events), plus `/demo/...`
// for its own set-up, the stand-in's files and the walkthrough's captions. What the bot sent
// is rendered as a Telegram client would: formatted text from its entities, photos, inline
// and reply keyboards, invoices with a Pay button, locations.
"use strict";

const state = {
  config: null,
  texts: {},
  panes: [],            // {user_id, chat_id, title, subtitle, role, el, ...}
  chats: new Map(),     // chat_id -> {messages: Map(id -> stored), keyboard, forceReply}
  tappers: new Map(),   // callback query id -> user id who tapped
  seq: 0,
  narrationSeq: 0,
};

const STORAGE_KEY = "yueban-demo-panes";

// -- talking to the stand-in ----------------------------------------------------------------

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  let payload;
  try {
    payload = await response.json();
  } catch (error) {
    throw new Error(`${response.status} ${response.statusText}`);
  }
  if (!payload.ok) throw new Error(payload.description || `${response.status}`);
  return payload.result;
}

function act(pane, action, body) {
  return api(`/_standin/users/${pane.user_id}/${action}`, body);
}

// -- small helpers --------------------------------------------------------------------------

function t(key, params) {
  let text = state.texts[key] || key;
  for (const [name, value] of Object.entries(params || {})) {
    text = text.split(`{${name}}`).join(String(value));
  }
  return text;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "html") node.innerHTML = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function safeUrl(url) {
  return /^(https?:|tg:|mailto:|tel:)/i.test(url) ? url : null;
}

function initials(name) {
  const words = (name || "?").replace(/-/g, " ").split(/\s+/).filter(Boolean);
  return (words.slice(0, 2).map((w) => w[0]).join("") || "?").toUpperCase();
}

function colourOf(id) {
  const colours = ["#e17076", "#f09a37", "#7bc862", "#3fa9c9", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb"];
  return colours[Math.abs(Number(id)) % colours.length];
}

function clock(date) {
  const d = new Date(date * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function fullName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ") || user.title || "?";
}

function formatAmount(amount, currency) {
  if (currency === "XTR") return `⭐ ${amount}`;
  const value = (amount / 100).toFixed(2);
  return currency === "CNY" ? `¥${value}` : `${value} ${currency}`;
}

function toast(pane, text, alert) {
  if (!text) return;
  if (alert) {
    document.getElementById("alert-text").textContent = text;
    document.getElementById("alert-dialog").showModal();
    return;
  }
  const note = el("div", { class: "toast", text });
  pane.toasts.append(note);
  setTimeout(() => note.classList.add("fade"), 2600);
  setTimeout(() => note.remove(), 3200);
}

function problem(pane, error) {
  toast(pane, `⚠ ${error.message || error}`, false);
}

// -- formatted text (Telegram entities; offsets are UTF-16 units, like JS strings) ----------

const SIMPLE_TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code",
};

function wrapEntity(entity, inner, text) {
  const whole = text.slice(entity.offset, entity.offset + entity.length);
  switch (entity.type) {
    case "bold": case "italic": case "underline": case "strikethrough": case "code": {
      const tag = SIMPLE_TAGS[entity.type];
      return `<${tag}>${inner}</${tag}>`;
    }
    case "pre":
      return `<code class="pre"${entity.language ? ` data-language="${escapeHtml(entity.language)}"` : ""}>${inner}</code>`;
    case "spoiler":
      return `<span class="spoiler" title="spoiler">${inner}</span>`;
    case "text_link": {
      const url = safeUrl(entity.url || "");
      return url ? `<a href="${escapeHtml(url)}" target="_blank" rel="noopener">${inner}</a>` : inner;
    }
    case "url": {
      const url = safeUrl(/^[a-z]+:/i.test(whole) ? whole : `https://${whole}`);
      return url ? `<a href="${escapeHtml(url)}" target="_blank" rel="noopener">${inner}</a>` : inner;
    }
    case "email":
      return `<a href="mailto:${escapeHtml(whole)}">${inner}</a>`;
    case "phone_number":
      return `<a href="tel:${escapeHtml(whole)}">${inner}</a>`;
    case "bot_command":
      return `<a href="#" class="command" data-command="${escapeHtml(whole)}">${inner}</a>`;
    case "mention": case "hashtag": case "cashtag": case "text_mention":
      return `<span class="mention">${inner}</span>`;
    case "blockquote": case "expandable_blockquote":
      return `<span class="quote">${inner}</span>`;
    default:
      return inner;
  }
}

function renderText(text, entities) {
  const usable = (entities || []).filter((e) => e.length > 0 && e.offset >= 0);
  const points = new Set([0, text.length]);
  for (const e of usable) {
    points.add(Math.min(e.offset, text.length));
    points.add(Math.min(e.offset + e.length, text.length));
  }
  const cuts = [...points].sort((a, b) => a - b);
  let html = "";
  for (let i = 0; i + 1 < cuts.length; i += 1) {
    const start = cuts[i];
    const end = cuts[i + 1];
    let piece = escapeHtml(text.slice(start, end));
    // Outermost entity last, so it wraps the inner ones.
    const active = usable
      .filter((e) => e.offset <= start && e.offset + e.length >= end)
      .sort((a, b) => (b.offset - a.offset) || (a.length - b.length));
    for (const entity of active) piece = wrapEntity(entity, piece, text);
    html += piece;
  }
  return html;
}

// -- panes ------------------------------------------------------------------------------------

function chatOf(chatId) {
  let chat = state.chats.get(chatId);
  if (!chat) {
    chat = { messages: new Map(), keyboard: null, forceReply: null, loaded: false };
    state.chats.set(chatId, chat);
  }
  return chat;
}

function savePanes() {
  const kept = state.panes.map((p) => ({
    user_id: p.user_id, chat_id: p.chat_id, title: p.title, subtitle: p.subtitle, role: p.role,
  }));
  localStorage.setItem(STORAGE_KEY, JSON.stringify(kept));
}

function paneFor(userId, chatId) {
  return state.panes.find((p) => p.user_id === userId && p.chat_id === chatId);
}

function panesOfChat(chatId) {
  return state.panes.filter((p) => p.chat_id === chatId);
}

async function openPane(spec, { save = true } = {}) {
  if (paneFor(spec.user_id, spec.chat_id)) return;
  const pane = { ...spec, replyTo: null, placeholder: null };
  state.panes.push(pane);
  buildPane(pane);
  if (save) savePanes();
  await loadChat(pane.chat_id);
  renderPane(pane);
}

function closePane(pane) {
  state.panes = state.panes.filter((p) => p !== pane);
  pane.el.remove();
  savePanes();
}

function buildPane(pane) {
  const avatar = el("div", { class: "avatar", text: initials(pane.title) });
  avatar.style.background = colourOf(pane.chat_id);
  pane.status = el("span", { class: "status", text: pane.subtitle || "" });
  pane.messagesEl = el("div", { class: "messages" });
  pane.toasts = el("div", { class: "toasts" });
  pane.keyboardEl = el("div", { class: "reply-keyboard", hidden: true });
  pane.replyBar = el("div", { class: "reply-bar", hidden: true });
  pane.input = el("textarea", { rows: 1, placeholder: t("type_message"), "aria-label": t("type_message") });
  pane.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      sendText(pane);
    }
  });
  const attach = el("button", { type: "button", class: "icon attach", title: t("attach"), text: "📎" });
  const menu = el("div", { class: "attach-menu", hidden: true },
    el("button", { type: "button", text: `🖼 ${t("sample_photo")}`, onclick: () => { menu.hidden = true; sendPhoto(pane, null); } }),
    el("button", { type: "button", text: `📁 ${t("choose_photo")}`, onclick: () => { menu.hidden = true; choosePhoto(pane); } }),
    el("button", { type: "button", text: `📍 ${t("share_location")}`, onclick: () => { menu.hidden = true; shareLocation(pane); } }),
  );
  attach.addEventListener("click", () => { menu.hidden = !menu.hidden; });
  const keyboardToggle = el("button", { type: "button", class: "icon keyboard-toggle", title: t("keyboard"), text: "⌨", hidden: true });
  keyboardToggle.addEventListener("click", () => { pane.keyboardEl.hidden = !pane.keyboardEl.hidden; });
  pane.keyboardToggle = keyboardToggle;
  const send = el("button", { type: "button", class: "icon send", title: t("send"), text: "➤", onclick: () => sendText(pane) });
  pane.startButton = el("button", { type: "button", class: "start", text: t("start"), hidden: true, onclick: () => startBot(pane) });
  const roleClass = `role-${(pane.role || "role_person").replace("role_", "")}`;
  pane.el = el("section", { class: `pane ${roleClass}`, dataset: { user: pane.user_id, chat: pane.chat_id } },
    el("header", {},
      avatar,
      el("div", { class: "who" }, el("strong", { text: pane.title }), pane.status),
      el("button", { type: "button", class: "icon close", title: t("close_pane"), text: "✕", onclick: () => closePane(pane) }),
    ),
    el("div", { class: "chat" }, pane.messagesEl, pane.toasts),
    pane.startButton,
    pane.replyBar,
    el("div", { class: "composer" }, menu, attach, pane.input, keyboardToggle, send),
    pane.keyboardEl,
  );
  pane.messagesEl.addEventListener("click", (event) => {
    const command = event.target.closest("a.command");
    if (command) {
      event.preventDefault();
      sendText(pane, command.dataset.command);
    }
    const spoiler = event.target.closest(".spoiler");
    if (spoiler) spoiler.classList.add("revealed");
  });
  document.getElementById("panes").append(pane.el);
}

async function loadChat(chatId) {
  const chat = chatOf(chatId);
  if (chat.loaded) return;
  const history = await api(`/_standin/chats/${chatId}/messages`);
  for (const stored of history) {
    chat.messages.set(stored.message.message_id, {
      message: stored.message, fromBot: stored.from_bot, deleted: stored.deleted,
      edited: stored.edits.length > 0,
    });
  }
  chat.loaded = true;
}

function renderPane(pane) {
  const chat = chatOf(pane.chat_id);
  pane.messagesEl.replaceChildren();
  const ids = [...chat.messages.keys()].sort((a, b) => a - b);
  for (const id of ids) pane.messagesEl.append(renderMessage(pane, chat.messages.get(id)));
  if (!ids.length) pane.messagesEl.append(el("div", { class: "empty", text: t("no_messages") }));
  pane.startButton.hidden = ids.length > 0 || pane.chat_id < 0;
  renderKeyboard(pane);
  renderReplyBar(pane);
  scrollDown(pane);
}

function scrollDown(pane) {
  requestAnimationFrame(() => { pane.messagesEl.scrollTop = pane.messagesEl.scrollHeight; });
}

function upsertMessage(chatId, stored) {
  const chat = chatOf(chatId);
  chat.messages.set(stored.message.message_id, stored);
  for (const pane of panesOfChat(chatId)) {
    const old = pane.messagesEl.querySelector(`[data-id="${stored.message.message_id}"]`);
    const node = renderMessage(pane, stored);
    pane.messagesEl.querySelector(".empty")?.remove();
    pane.startButton.hidden = true;
    if (old) old.replaceWith(node);
    else {
      pane.messagesEl.append(node);
      scrollDown(pane);
    }
  }
}

// -- one message ------------------------------------------------------------------------------

function messageKind(message) {
  for (const kind of ["photo", "document", "voice", "video", "animation", "sticker", "location", "venue", "contact", "invoice", "successful_payment", "refunded_payment", "dice"]) {
    if (message[kind]) return kind;
  }
  return "text";
}

function renderMessage(pane, stored) {
  const { message } = stored;
  const outgoing = message.from && message.from.id === pane.user_id;
  const kind = messageKind(message);
  const service = kind === "successful_payment" || kind === "refunded_payment";
  const bubble = el("div", { class: `bubble ${kind}` });
  const wrapper = el("div", {
    class: `msg ${service ? "service" : outgoing ? "out" : "in"}${stored.deleted ? " deleted" : ""}`,
    dataset: { id: message.message_id, kind },
  }, bubble);

  if (pane.chat_id < 0 && !outgoing && !service && message.from) {
    const name = el("div", { class: "sender", text: fullName(message.from) });
    name.style.color = colourOf(message.from.id);
    bubble.append(name);
  }
  if (message.forward_origin) {
    bubble.append(el("div", { class: "forwarded", text: `↪ ${message.forward_origin.sender_user ? fullName(message.forward_origin.sender_user) : message.forward_origin.sender_user_name || ""}` }));
  }
  if (message.reply_to_message) {
    const quoted = message.reply_to_message;
    bubble.append(el("div", { class: "quoted" },
      el("strong", { text: quoted.from ? fullName(quoted.from) : "" }),
      el("span", { text: (quoted.text || quoted.caption || `[${messageKind(quoted)}]`).slice(0, 90) })));
  }
  renderContent(pane, bubble, message, kind);
  const meta = el("span", { class: "meta" },
    stored.edited ? `${t("edited")} · ` : "", clock(message.date));
  if (stored.deleted) meta.prepend(`${t("deleted")} · `);
  bubble.append(meta);
  const markup = message.reply_markup;
  if (markup && markup.inline_keyboard && !stored.deleted) {
    wrapper.append(renderInlineKeyboard(pane, message, markup.inline_keyboard));
  } else if (kind === "invoice" && !stored.deleted) {
    // An invoice without a keyboard still shows Telegram's own Pay button.
    wrapper.append(renderInlineKeyboard(pane, message, [[{ text: t("pay"), pay: true }]]));
  }
  if (!service) {
    const reply = el("button", { type: "button", class: "reply-action", title: t("reply"), text: "↩" });
    reply.addEventListener("click", () => { pane.replyTo = message; renderReplyBar(pane); pane.input.focus(); });
    wrapper.append(reply);
  }
  return wrapper;
}

function textBlock(text, entities) {
  return el("div", { class: "text", html: renderText(text, entities) });
}

function fileUrl(fileId) {
  return `/demo/files/${encodeURIComponent(fileId)}`;
}

function renderContent(pane, bubble, message, kind) {
  switch (kind) {
    case "photo": {
      const sizes = message.photo;
      const biggest = sizes[sizes.length - 1];
      const img = el("img", { src: fileUrl(biggest.file_id), alt: message.caption || "photo", loading: "lazy" });
      if (biggest.width && biggest.height) img.style.aspectRatio = `${biggest.width} / ${biggest.height}`;
      bubble.append(el("a", { href: fileUrl(biggest.file_id), target: "_blank", class: "media" }, img));
      break;
    }
    case "document": {
      const doc = message.document;
      bubble.append(el("a", { class: "file", href: fileUrl(doc.file_id), target: "_blank", download: doc.file_name || "file" },
        el("span", { class: "file-icon", text: "📄" }),
        el("span", {}, el("strong", { text: doc.file_name || t("document") }),
          el("small", { text: doc.file_size ? `${Math.max(1, Math.round(doc.file_size / 1024))} KB` : "" }))));
      break;
    }
    case "voice": {
      const voice = message.voice;
      bubble.append(el("div", { class: "voice" }, el("span", { text: `🎤 ${t("voice")} · 0:${String(voice.duration || 0).padStart(2, "0")}` }),
        el("audio", { controls: true, preload: "none", src: fileUrl(voice.file_id) })));
      break;
    }
    case "video": case "animation":
      bubble.append(el("div", { class: "placeholder", text: `🎬 ${t("video")}` }));
      break;
    case "sticker":
      bubble.append(el("div", { class: "sticker", text: message.sticker.emoji || "🙂", title: t("sticker") }));
      break;
    case "location": case "venue": {
      const location = kind === "venue" ? message.venue.location : message.location;
      bubble.append(renderLocation(location, kind === "venue" ? message.venue : null));
      break;
    }
    case "contact": {
      const contact = message.contact;
      bubble.append(el("div", { class: "contact" }, el("span", { class: "file-icon", text: "👤" }),
        el("span", {}, el("strong", { text: fullName(contact) }), el("small", { text: contact.phone_number }))));
      break;
    }
    case "invoice": {
      // The stand-in charges nobody: in the demo every invoice is a test payment.
      const invoice = message.invoice;
      bubble.append(el("div", { class: "invoice" },
        el("div", { class: "invoice-label", text: `🧾 ${t("invoice")} · ${t("test_payment")}` }),
        el("strong", { text: invoice.title }),
        el("p", { text: invoice.description }),
        el("div", { class: "amount", text: formatAmount(invoice.total_amount, invoice.currency) })));
      break;
    }
    case "successful_payment": {
      const paid = message.successful_payment;
      bubble.append(el("span", { text: t("paid", { amount: formatAmount(paid.total_amount, paid.currency) }) }));
      break;
    }
    case "refunded_payment": {
      const refund = message.refunded_payment;
      bubble.append(el("span", { text: t("refunded", { amount: formatAmount(refund.total_amount, refund.currency) }) }));
      break;
    }
    case "dice":
      bubble.append(el("div", { class: "sticker", text: `${message.dice.emoji} ${message.dice.value}` }));
      break;
    default:
      break;
  }
  if (message.text !== undefined) bubble.append(textBlock(message.text, message.entities));
  if (message.caption) bubble.append(textBlock(message.caption, message.caption_entities));
}

function renderLocation(location, venue) {
  const { latitude, longitude } = location;
  const link = `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=16/${latitude}/${longitude}`;
  const map = el("div", { class: "map", title: `${latitude}, ${longitude}` },
    el("span", { class: "pin", text: "📍" }));
  return el("div", { class: "location" },
    map,
    venue ? el("strong", { text: venue.title }) : null,
    venue ? el("small", { text: venue.address }) : null,
    el("div", { class: "coords" },
      el("span", { text: `${t("location")} ${latitude.toFixed(4)}, ${longitude.toFixed(4)}${location.live_period ? " · live" : ""}` }),
      el("a", { href: link, target: "_blank", rel: "noopener", text: t("open_map") })));
}

function renderInlineKeyboard(pane, message, rows) {
  const keyboard = el("div", { class: "inline-keyboard" });
  for (const row of rows) {
    const line = el("div", { class: "row" });
    for (const button of row) {
      const node = el("button", { type: "button", class: "key", text: button.text });
      if (button.url) {
        node.classList.add("link");
        node.addEventListener("click", () => window.open(safeUrl(button.url) || "about:blank", "_blank", "noopener"));
      } else if (button.pay) {
        node.classList.add("pay");
        node.addEventListener("click", () => pay(pane, message, node));
      } else if (button.callback_data !== undefined) {
        node.addEventListener("click", () => tap(pane, message, button, node));
      } else if (button.copy_text) {
        node.addEventListener("click", () => navigator.clipboard?.writeText(button.copy_text.text));
      } else {
        node.disabled = true;
      }
      line.append(node);
    }
    keyboard.append(line);
  }
  return keyboard;
}

// -- the input area -----------------------------------------------------------------------------

function renderKeyboard(pane) {
  const chat = chatOf(pane.chat_id);
  const markup = chat.keyboard;
  pane.keyboardEl.replaceChildren();
  if (!markup || !markup.keyboard) {
    pane.keyboardEl.hidden = true;
    pane.keyboardToggle.hidden = true;
    return;
  }
  for (const row of markup.keyboard) {
    const line = el("div", { class: "row" });
    for (const button of row) {
      const label = typeof button === "string" ? button : button.text;
      const node = el("button", { type: "button", class: "key", text: label });
      node.addEventListener("click", () => pressKey(pane, button, markup));
      line.append(node);
    }
    pane.keyboardEl.append(line);
  }
  if (markup.input_field_placeholder) pane.input.placeholder = markup.input_field_placeholder;
  pane.keyboardEl.hidden = false;
  pane.keyboardToggle.hidden = false;
}

function renderReplyBar(pane) {
  const target = pane.replyTo;
  pane.replyBar.replaceChildren();
  if (!target) {
    pane.replyBar.hidden = true;
    pane.input.placeholder = t("type_message");
    return;
  }
  pane.replyBar.append(
    el("span", { class: "reply-label", text: `↩ ${t("replying_to")}` }),
    el("span", { class: "reply-text", text: (target.text || target.caption || "").slice(0, 60) }),
    el("button", { type: "button", class: "icon", title: t("cancel_reply"), text: "✕", onclick: () => { pane.replyTo = null; renderReplyBar(pane); } }));
  pane.replyBar.hidden = false;
  if (pane.placeholder) pane.input.placeholder = pane.placeholder;
}

function chatArg(pane) {
  return pane.chat_id === pane.user_id ? {} : { chat_id: pane.chat_id };
}

async function sendText(pane, text) {
  const value = (text !== undefined ? text : pane.input.value).trim();
  if (!value) return;
  const body = { text: value, ...chatArg(pane) };
  if (pane.replyTo) body.reply_to_message_id = pane.replyTo.message_id;
  try {
    await act(pane, "text", body);
    if (text === undefined) pane.input.value = "";
    pane.replyTo = null;
    pane.placeholder = null;
    renderReplyBar(pane);
  } catch (error) {
    problem(pane, error);
  }
}

async function startBot(pane) {
  try {
    await act(pane, "start", {});
  } catch (error) {
    problem(pane, error);
  }
}

async function tap(pane, message, button, node) {
  node.classList.add("busy");
  try {
    const result = await act(pane, "tap", {
      message_id: message.message_id, callback_data: button.callback_data, ...chatArg(pane),
    });
    state.tappers.set(result.callback_query.id, pane.user_id);
  } catch (error) {
    problem(pane, error);
  } finally {
    setTimeout(() => node.classList.remove("busy"), 400);
  }
}

async function pay(pane, message, node) {
  node.disabled = true;
  try {
    const result = await act(pane, "pay", { message_id: message.message_id, ...chatArg(pane) });
    if (!result.ok) toast(pane, t("payment_failed", { reason: result.error_message || result.reason || "" }), true);
  } catch (error) {
    problem(pane, error);
  } finally {
    node.disabled = false;
  }
}

async function pressKey(pane, button, markup) {
  if (typeof button !== "string" && button.request_location) {
    shareLocation(pane);
    return;
  }
  const label = typeof button === "string" ? button : button.text;
  try {
    await act(pane, "press", { text: label, ...chatArg(pane) });
    if (markup.one_time_keyboard) {
      chatOf(pane.chat_id).keyboard = null;
      for (const other of panesOfChat(pane.chat_id)) renderKeyboard(other);
    }
  } catch (error) {
    problem(pane, error);
  }
}

async function sendPhoto(pane, base64) {
  const body = { ...chatArg(pane) };
  if (base64) body.data_base64 = base64;
  if (pane.replyTo) body.reply_to_message_id = pane.replyTo.message_id;
  const caption = pane.input.value.trim();
  if (caption) body.caption = caption;
  try {
    await act(pane, "photo", body);
    pane.input.value = "";
    pane.replyTo = null;
    renderReplyBar(pane);
  } catch (error) {
    problem(pane, error);
  }
}

function choosePhoto(pane) {
  const input = document.getElementById("photo-input");
  input.value = "";
  input.onchange = () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => sendPhoto(pane, String(reader.result).split(",", 2)[1]);
    reader.readAsDataURL(file);
  };
  input.click();
}

function shareLocation(pane) {
  const dialog = document.getElementById("place-dialog");
  const list = document.getElementById("place-list");
  list.replaceChildren();
  for (const place of state.config.places) {
    list.append(el("button", {
      type: "submit", value: `${place.latitude},${place.longitude}`, class: "place",
      text: `📍 ${t(`place_${place.key}`)}`,
    }));
  }
  dialog.onclose = async () => {
    const choice = dialog.returnValue;
    if (!choice || choice === "cancel") return;
    let latitude;
    let longitude;
    if (choice === "custom") {
      latitude = Number(document.getElementById("place-lat").value);
      longitude = Number(document.getElementById("place-lon").value);
    } else {
      [latitude, longitude] = choice.split(",").map(Number);
    }
    if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) {
      problem(pane, new Error(`${t("latitude")} / ${t("longitude")}?`));
      return;
    }
    try {
      await act(pane, "location", { latitude, longitude, ...chatArg(pane) });
    } catch (error) {
      problem(pane, error);
    }
  };
  dialog.returnValue = "";
  dialog.showModal();
}

// -- following the chats --------------------------------------------------------------------

function applyEvent(event) {
  const chatId = event.chat_id;
  const chat = chatOf(chatId);
  switch (event.kind) {
    case "message": {
      const stored = { message: event.message, fromBot: event.from_bot, deleted: false, edited: false };
      upsertMessage(chatId, stored);
      if (event.from_bot && chat.forceReply) {
        for (const pane of panesOfChat(chatId)) {
          pane.replyTo = event.message;
          pane.placeholder = chat.forceReply.input_field_placeholder || t("force_reply");
          renderReplyBar(pane);
        }
        chat.forceReply = null;
      }
      break;
    }
    case "edited": {
      const previous = chat.messages.get(event.message.message_id);
      upsertMessage(chatId, { message: event.message, fromBot: event.from_bot, deleted: previous ? previous.deleted : false, edited: true });
      break;
    }
    case "deleted": {
      const previous = chat.messages.get(event.message_id);
      if (previous) upsertMessage(chatId, { ...previous, deleted: true });
      break;
    }
    case "reply_keyboard":
      chat.keyboard = event.markup;
      for (const pane of panesOfChat(chatId)) renderKeyboard(pane);
      break;
    case "force_reply":
      chat.forceReply = event.markup;
      break;
    case "chat_action":
      for (const pane of panesOfChat(chatId)) {
        pane.status.textContent = t("typing");
        clearTimeout(pane.statusTimer);
        pane.statusTimer = setTimeout(() => { pane.status.textContent = pane.subtitle || ""; }, 3000);
      }
      break;
    case "callback_query": {
      const query = event.callback_query;
      state.tappers.set(query.id, query.from.id);
      for (const pane of panesOfChat(chatId)) {
        const node = pane.messagesEl.querySelector(`[data-id="${query.message && query.message.message_id}"]`);
        const key = node && [...node.querySelectorAll(".key")].find((k) => k.textContent && findButtonData(query.message, k.textContent) === query.data);
        if (key) {
          key.classList.add("tapped");
          setTimeout(() => key.classList.remove("tapped"), 900);
        }
      }
      break;
    }
    case "callback_answer": {
      const answer = event.answer;
      const userId = state.tappers.get(answer.callback_query_id);
      const pane = paneFor(userId, chatId) || panesOfChat(chatId)[0];
      if (pane) toast(pane, answer.text, answer.show_alert);
      break;
    }
    case "payment_failed":
      for (const pane of panesOfChat(chatId)) toast(pane, t("payment_failed", { reason: event.error_message || event.reason || "" }), false);
      break;
    case "blocked":
      for (const pane of panesOfChat(chatId)) toast(pane, t("blocked"), false);
      break;
    default:
      break;
  }
}

function findButtonData(message, text) {
  for (const row of (message && message.reply_markup && message.reply_markup.inline_keyboard) || []) {
    for (const button of row) if (button.text === text) return button.callback_data;
  }
  return undefined;
}

async function pollEvents() {
  const banner = document.getElementById("connection");
  for (;;) {
    try {
      const events = await api(`/_standin/events?after=${state.seq}&timeout=25`);
      banner.hidden = true;
      for (const event of events) {
        state.seq = Math.max(state.seq, event.seq);
        try {
          applyEvent(event);
        } catch (error) {
          console.error("could not show", event, error);
        }
      }
    } catch (error) {
      banner.textContent = t("connection_lost");
      banner.hidden = false;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

async function pollNarration() {
  const box = document.getElementById("narration");
  for (;;) {
    try {
      const lines = await api(`/demo/narration?after=${state.narrationSeq}&timeout=25`);
      for (const line of lines) {
        state.narrationSeq = line.seq;
        box.hidden = false;
        box.classList.toggle("done", Boolean(line.done));
        document.getElementById("narration-step").textContent = line.step ? `${line.step}/${line.of}` : (line.done ? "✓" : "▶");
        document.getElementById("narration-text").textContent = line.text;
      }
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

// -- people -------------------------------------------------------------------------------------

function openPersonDialog() {
  const dialog = document.getElementById("person-dialog");
  const existing = document.getElementById("person-existing");
  existing.replaceChildren();
  const shown = new Set(state.panes.map((p) => p.user_id));
  api("/demo/config").then((config) => {
    for (const person of config.people) {
      if (shown.has(person.id)) continue;
      existing.append(el("option", {
        value: person.id, text: `${person.name} · ${t(person.role)}`,
        dataset: { name: person.name, role: person.role },
      }));
    }
  }).catch(() => {});
  document.getElementById("person-name").value = "";
  dialog.returnValue = "";
  dialog.onclose = async () => {
    const choice = dialog.returnValue;
    try {
      if (choice === "create") {
        const name = document.getElementById("person-name").value.trim();
        if (!name) return;
        const user = await api("/_standin/users", {
          first_name: name, language_code: document.getElementById("person-language").value,
        });
        await openPane({ user_id: user.id, chat_id: user.id, title: fullName(user), subtitle: t("role_person"), role: "role_person" });
      } else if (choice === "open" && existing.value) {
        const id = Number(existing.value);
        const { name, role } = existing.selectedOptions[0].dataset;
        await openPane({ user_id: id, chat_id: id, title: name, subtitle: t(role), role });
      }
    } catch (error) {
      if (state.panes[0]) problem(state.panes[0], error);
    }
  };
  dialog.showModal();
}

// -- start ----------------------------------------------------------------------------------------

function labelPage() {
  document.title = t("title");
  document.documentElement.lang = state.config.language;
  document.getElementById("title").textContent = t("title");
  document.getElementById("subtitle").textContent = t("subtitle", { bot: `@${state.config.bot.username}` });
  const labels = {
    "add-person": "add_person", "person-dialog-title": "add_person_title", "person-name-label": "add_person_name",
    "person-language-label": "add_person_language", "person-create": "add_person_create",
    "person-open-label": "add_person_open", "person-open": "add_person_open", "person-cancel": "add_person_cancel",
    "place-dialog-title": "pick_place", "place-custom-label": "custom_place", "place-lat-label": "latitude",
    "place-lon-label": "longitude", "place-share": "share", "place-cancel": "add_person_cancel",
    "alert-close": "callback_alert_close",
  };
  for (const [id, key] of Object.entries(labels)) document.getElementById(id).textContent = t(key);
  document.getElementById("person-language").value = state.config.language;
  document.getElementById("add-person").addEventListener("click", openPersonDialog);
}

async function boot() {
  state.config = await api("/demo/config");
  state.texts = state.config.texts;
  state.seq = state.config.event_seq;
  labelPage();
  const chats = await api("/_standin/chats");
  for (const chat of chats) chatOf(chat.id).keyboard = chat.reply_keyboard;
  let panes = state.config.panes;
  const kept = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
  const known = new Set(state.config.people.map((p) => p.id));
  if (Array.isArray(kept) && kept.length && kept.every((p) => known.has(p.user_id))) panes = kept;
  for (const pane of panes) await openPane(pane, { save: false });
  pollEvents();
  pollNarration();
  document.body.classList.add("ready");
}

boot().catch((error) => {
  document.getElementById("connection").textContent = String(error);
  document.getElementById("connection").hidden = false;
});
