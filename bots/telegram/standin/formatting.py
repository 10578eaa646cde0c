"""Message formatting as Telegram applies it: parse_mode parsing and automatic entities.

Telegram turns ``text`` + ``parse_mode`` (HTML, MarkdownV2, legacy Markdown) into plain
text plus ``entities`` before storing a message, refuses malformed markup with "can't
parse entities", and measures length limits on the parsed text. Offsets and lengths of
entities count UTF-16 code units (https://core.telegram.org/api/entities#entity-length).
Messages typed by simulated users get the entities a Telegram client would detect
(bot commands, mentions, hashtags, links, e-mail addresses, phone numbers).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from bots.telegram.standin.errors import BotApiError, bad_request

PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of ``text`` an entity covers (entities count UTF-16 code units)."""
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2:(offset + length) * 2].decode("utf-16-le", errors="replace")


class _Builder:
    """Accumulates plain text and tracks the UTF-16 offset of its end."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Open:
    name: str
    entity: dict[str, Any] | None
    start: int
    source_at: int


def _fail(detail: str) -> BotApiError:
    return bad_request(f"can't parse entities: {detail}")


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [e for e in entities if e["length"] > 0]
    return sorted(kept, key=lambda e: (e["offset"], -e["length"]))


def parse_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) as Telegram would store them."""
    if not parse_mode:
        return text, list(entities or [])
    # Telegram ignores parse_mode when explicit entities are given.
    if entities:
        return text, list(entities)
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown_legacy(text)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


# -- HTML ---------------------------------------------------------------------------------

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^>]*)?)\s*/?>")
_ATTR_RE = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _attributes(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(raw):
        attrs[match.group(1).lower()] = html.unescape(
            match.group(2) or match.group(3) or match.group(4) or ""
        )
    return attrs


def _html_entity(name: str, attrs: dict[str, str], at: int) -> dict[str, Any] | None:
    if name in _SIMPLE_TAGS:
        kind = _SIMPLE_TAGS[name]
        if kind == "blockquote" and "expandable" in attrs:
            kind = "expandable_blockquote"
        return {"type": kind, "offset": at, "length": 0}
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            return None
        return {"type": "spoiler", "offset": at, "length": 0}
    if name == "a":
        href = attrs.get("href", "")
        if href.startswith("tg://user?id="):
            user_id = href.removeprefix("tg://user?id=")
            if user_id.isdigit():
                return {
                    "type": "text_mention",
                    "offset": at,
                    "length": 0,
                    "user": {"id": int(user_id), "is_bot": False, "first_name": ""},
                }
        return {"type": "text_link", "offset": at, "length": 0, "url": href}
    if name == "tg-emoji":
        return {"type": "custom_emoji", "offset": at, "length": 0,
                "custom_emoji_id": attrs.get("emoji-id", "")}
    if name == "tg-time":
        return {"type": "date_time", "offset": at, "length": 0}
    return None


_KNOWN_HTML = {*_SIMPLE_TAGS, "span", "a", "tg-emoji", "tg-time"}


def _parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "<":
            match = _TAG_RE.match(source, index)
            if match is None:
                raise _fail(
                    f"Unexpected end of name token at byte offset {_byte_offset(source, index)}"
                )
            closing, name = match.group(1) == "/", match.group(2).lower()
            if name not in _KNOWN_HTML:
                kind = "end" if closing else "start"
                raise _fail(
                    f'Unsupported {kind} tag "{name}" at byte offset {_byte_offset(source, index)}'
                )
            if closing:
                if not stack:
                    raise _fail(f"Unexpected end tag at byte offset {_byte_offset(source, index)}")
                opened = stack.pop()
                if opened.name != name:
                    raise _fail(
                        f'Unmatched end tag at byte offset {_byte_offset(source, index)}, '
                        f'expected "</{opened.name}>", found "</{name}>"'
                    )
                if opened.entity is not None:
                    opened.entity["length"] = out.offset - opened.start
                    entities.append(opened.entity)
            else:
                attrs = _attributes(match.group(3) or "")
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise _fail(
                        f'Unsupported start tag "span" at byte offset {_byte_offset(source, index)}'
                    )
                entity = _html_entity(name, attrs, out.offset)
                if name == "code" and stack and stack[-1].name == "pre":
                    # <pre><code class="language-x"> sets the language of the pre block.
                    language = attrs.get("class", "").removeprefix("language-")
                    if language and stack[-1].entity is not None:
                        stack[-1].entity["language"] = language
                    entity = None
                stack.append(_Open(name, entity, out.offset, index))
            index = match.end()
            continue
        if char == "&":
            match = _ENTITY_RE.match(source, index)
            if match is not None:
                body = match.group(1)
                if body.startswith("#x"):
                    out.add(chr(int(body[2:], 16)))
                elif body.startswith("#"):
                    out.add(chr(int(body[1:])))
                elif body in _NAMED:
                    out.add(_NAMED[body])
                else:
                    out.add(match.group(0))  # unsupported named entities stay as typed
                index = match.end()
                continue
        out.add(char)
        index += 1
    if stack:
        raise _fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.text(), _sorted(entities)


# -- MarkdownV2 ---------------------------------------------------------------------------

_RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")
_V2_TOGGLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
               "||": "spoiler"}


def _parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    entities: list[dict[str, Any]] = []
    stack: list[_Open] = []
    quote: dict[str, Any] | None = None
    index = 0
    at_line_start = True
    while index < len(source):
        char = source[index]
        if at_line_start and char == ">" and not stack:
            if quote is None:
                quote = {"type": "blockquote", "offset": out.offset, "length": 0}
            index += 1
            at_line_start = False
            continue
        if at_line_start and quote is not None:
            quote["length"] = out.offset - quote["offset"]
            # the newline ending a quote belongs to it only while the next line quotes too
            quote["length"] -= 1 if out.text().endswith("\n") else 0
            entities.append(quote)
            quote = None
        at_line_start = False
        if char == "\\":
            if index + 1 < len(source) and 0 < ord(source[index + 1]) <= 126:
                out.add(source[index + 1])
                index += 2
                continue
            raise _fail(f"Character '\\' at byte offset {_byte_offset(source, index)} "
                        "is not followed by an escapable character")
        if source.startswith("```", index):
            end = _find_unescaped(source, "```", index + 3)
            if end < 0:
                raise _fail(f"Can't find end of Pre entity at byte offset "
                            f"{_byte_offset(source, index)}")
            body = source[index + 3:end]
            language = ""
            if "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            entity: dict[str, Any] = {"type": "pre", "offset": out.offset, "length": 0}
            out.add(_unescape_code(body))
            entity["length"] = out.offset - entity["offset"]
            if language:
                entity["language"] = language
            entities.append(entity)
            index = end + 3
            continue
        if char == "`":
            end = _find_unescaped(source, "`", index + 1)
            if end < 0:
                raise _fail(f"Can't find end of Code entity at byte offset "
                            f"{_byte_offset(source, index)}")
            start = out.offset
            out.add(_unescape_code(source[index + 1:end]))
            entities.append({"type": "code", "offset": start, "length": out.offset - start})
            index = end + 1
            continue
        token = None
        for candidate in ("||", "__", "*", "_", "~"):
            if source.startswith(candidate, index):
                token = candidate
                break
        if token is not None:
            if stack and stack[-1].name == token:
                opened = stack.pop()
                assert opened.entity is not None
                opened.entity["length"] = out.offset - opened.start
                entities.append(opened.entity)
            else:
                stack.append(_Open(token, {"type": _V2_TOGGLES[token], "offset": out.offset,
                                           "length": 0}, out.offset, index))
            index += len(token)
            continue
        if char == "[" or (char == "!" and source.startswith("![", index)):
            is_emoji = char == "!"
            kind = "custom_emoji" if is_emoji else "text_link"
            stack.append(_Open("[", {"type": kind, "offset": out.offset, "length": 0},
                               out.offset, index))
            index += 2 if is_emoji else 1
            continue
        if char == "]" and stack and stack[-1].name == "[":
            if not source.startswith("(", index + 1):
                raise _fail(f"Character ']' is reserved and must be escaped with the "
                            f"preceding '\\' (byte offset {_byte_offset(source, index)})")
            end = _find_unescaped(source, ")", index + 2)
            if end < 0:
                raise _fail(f"Can't find end of a URL at byte offset "
                            f"{_byte_offset(source, index)}")
            url = re.sub(r"\\(.)", r"\1", source[index + 2:end])
            opened = stack.pop()
            assert opened.entity is not None
            opened.entity["length"] = out.offset - opened.start
            if opened.entity["type"] == "custom_emoji":
                opened.entity["custom_emoji_id"] = url.split("id=", 1)[-1]
            else:
                opened.entity["url"] = url
            entities.append(opened.entity)
            index = end + 1
            continue
        if char in _RESERVED_V2:
            raise _fail(f"Character '{char}' is reserved and must be escaped with the "
                        f"preceding '\\'")
        out.add(char)
        at_line_start = char == "\n"
        index += 1
    if stack:
        opened = stack[-1]
        kind = opened.entity["type"] if opened.entity else opened.name
        raise _fail(f"Can't find end of {kind.title().replace('_', '')} entity at byte offset "
                    f"{_byte_offset(source, opened.source_at)}")
    if quote is not None:
        quote["length"] = out.offset - quote["offset"]
        entities.append(quote)
    return out.text(), _sorted(entities)


def _find_unescaped(source: str, token: str, start: int) -> int:
    index = start
    while index < len(source):
        if source[index] == "\\":
            index += 2
            continue
        if source.startswith(token, index):
            return index
        index += 1
    return -1


def _unescape_code(body: str) -> str:
    return re.sub(r"\\([`\\])", r"\1", body)


# -- legacy Markdown ----------------------------------------------------------------------

_LEGACY = {"*": "bold", "_": "italic"}


def _parse_markdown_legacy(source: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    entities: list[dict[str, Any]] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source) and source[index + 1] in "_*`[":
            out.add(source[index + 1])
            index += 2
            continue
        if char in _LEGACY or char == "`" or char == "[":
            token = "```" if source.startswith("```", index) else char
            closer = "]" if token == "[" else token
            end = source.find(closer, index + len(token))
            if end < 0:
                raise _fail(f"Can't find end of the entity starting at byte offset "
                            f"{_byte_offset(source, index)}")
            body = source[index + len(token):end]
            start = out.offset
            out.add(body)
            entity: dict[str, Any] = {"offset": start, "length": out.offset - start}
            index = end + len(closer)
            if token == "[":
                if source.startswith("(", index):
                    close = source.find(")", index)
                    if close < 0:
                        raise _fail(f"Can't find end of the entity starting at byte offset "
                                    f"{_byte_offset(source, index)}")
                    entity.update(type="text_link", url=source[index + 1:close])
                    index = close + 1
                else:
                    continue
            elif token == "```":
                entity["type"] = "pre"
            elif token == "`":
                entity["type"] = "code"
            else:
                entity["type"] = _LEGACY[token]
            entities.append(entity)
            continue
        out.add(char)
        index += 1
    return out.text(), _sorted(entities)


# -- entities a client detects in typed text ----------------------------------------------

_DETECTORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"\bhttps?://[^\s]+|\bwww\.[^\s]+\.[a-z]{2,}[^\s]*", re.IGNORECASE)),
    ("email", re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w+")),
    ("phone_number", re.compile(r"(?<![\w+])\+\d[\d\s-]{6,}\d")),
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities a Telegram client marks in text a user typed."""
    found: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _DETECTORS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if kind == "url":
                # trailing punctuation is not part of a link
                while end > start and text[end - 1] in ".,;:!?)":
                    end -= 1
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append((start, end, kind))
    entities = [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in found
    ]
    return _sorted(entities)
