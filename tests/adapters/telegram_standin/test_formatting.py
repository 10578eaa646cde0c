"""parse_mode text becomes plain text plus entities, counted in UTF-16 like Telegram."""

from __future__ import annotations

import pytest

from bots.telegram.standin.errors import BotApiError
from bots.telegram.standin.formatting import detect_entities, parse_text


def kinds(entities: list[dict]) -> list[tuple[str, int, int]]:
    return [(e["type"], e["offset"], e["length"]) for e in entities]


def test_html_nests_and_counts_offsets_in_utf16() -> None:
    text, entities = parse_text('🎱 <b>Lei <i>coach</i></b> <a href="https://t.me/x">go</a>',
                                "HTML")

    assert text == "🎱 Lei coach go"
    # the emoji is two UTF-16 code units, so "Lei" starts at 3
    assert kinds(entities) == [("bold", 3, 9), ("italic", 7, 5), ("text_link", 13, 2)]
    assert entities[2]["url"] == "https://t.me/x"


def test_html_entities_and_code_languages() -> None:
    assert parse_text("a &lt; b &amp; c &#36;", "HTML") == ("a < b & c $", [])
    text, entities = parse_text('<pre><code class="language-sql">select 1</code></pre>',
                                "HTML")
    assert (text, entities) == ("select 1", [{"type": "pre", "offset": 0, "length": 8,
                                              "language": "sql"}])


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("price < 100", "Unexpected end of name token at byte offset 6"),
        ("<marquee>hi</marquee>", 'Unsupported start tag "marquee"'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'expected "</b>", found "</i>"'),
    ],
)
def test_malformed_html_is_refused(source: str, problem: str) -> None:
    with pytest.raises(BotApiError) as refused:
        parse_text(source, "HTML")
    assert refused.value.error_code == 400
    assert "can't parse entities" in refused.value.description
    assert problem in refused.value.description


def test_markdown_v2_entities_and_escapes() -> None:
    text, entities = parse_text(
        r"*bold* _it_ __under__ ~gone~ ||secret|| [site](https://a.b/c\)d) `x\`y` 12\.50",
        "MarkdownV2")

    assert text == "bold it under gone secret site x`y 12.50"
    assert kinds(entities) == [("bold", 0, 4), ("italic", 5, 2), ("underline", 8, 5),
                               ("strikethrough", 14, 4), ("spoiler", 19, 6),
                               ("text_link", 26, 4), ("code", 31, 3)]
    assert entities[5]["url"] == "https://a.b/c)d"


def test_markdown_v2_quotes_and_code_blocks() -> None:
    assert parse_text(">first\n>second\nafter", "MarkdownV2") == (
        "first\nsecond\nafter", [{"type": "blockquote", "offset": 0, "length": 12}])
    text, entities = parse_text("```python\nprint(1)```", "MarkdownV2")
    assert (text, entities[0]["language"]) == ("print(1)", "python")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("Total: 12.50", "Character '.' is reserved"),
        ("Call now!", "Character '!' is reserved"),
        ("*never closed", "Can't find end of Bold entity"),
    ],
)
def test_markdown_v2_refuses_unescaped_reserved_characters(source: str, problem: str) -> None:
    with pytest.raises(BotApiError, match="can't parse entities") as refused:
        parse_text(source, "MarkdownV2")
    assert problem in refused.value.description


def test_legacy_markdown_and_unknown_modes() -> None:
    text, entities = parse_text("*b* _i_ [l](http://a) `c` 1.5!", "Markdown")
    assert text == "b i l c 1.5!"
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link", "code"]
    with pytest.raises(BotApiError, match="Can't find end of the entity"):
        parse_text("_open", "Markdown")
    with pytest.raises(BotApiError, match="unsupported parse_mode"):
        parse_text("x", "BBCode")


def test_explicit_entities_win_over_parse_mode() -> None:
    given = [{"type": "bold", "offset": 0, "length": 2}]
    assert parse_text("<b>", "HTML", given) == ("<b>", given)


def test_a_client_marks_commands_mentions_links_and_phone_numbers() -> None:
    text = "/start ref_1 ask @lei_coach #billiards https://t.me/x. a.b@c.com +86 138 0013 8000"

    assert [e["type"] for e in detect_entities(text)] == [
        "bot_command", "mention", "hashtag", "url", "email", "phone_number"]
    url = next(e for e in detect_entities(text) if e["type"] == "url")
    assert text[url["offset"]:url["offset"] + url["length"]] == "https://t.me/x"
