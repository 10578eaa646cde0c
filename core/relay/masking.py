"""The contact-leak detector: finds phone numbers, WeChat and QQ ids, e-mail, handles and
links in a relayed text and masks them, so customer and provider never trade contacts.

How it works:

1. The text is *normalised one character at a time* (full-width forms, circled digits,
   Chinese numerals 一二三/壹贰叁/幺, zero-width and keycap marks, case), so a span found in
   the normalised text is the same span in the original.
2. Detectors run on the normalised text. Digits may be split by separators (spaces, dashes,
   dots, ...); a digit run is a phone when its shape says so (an 11-digit Chinese mobile
   in the usual groupings, +/00 international, a landline with its area code, US style) or
   when a cue stands in front of it ("电话", "call"). Ids need a cue ("vx", "微信", "QQ", ...),
   except forms that are ids by themselves (e-mail, @handle, wxid_..., links).
3. Overlapping spans merge. The masked text replaces each span with a placeholder
   (`\\ue000kind\\ue001`) that readers turn into their own language's marker with `render`
   ("[已隐藏]" / "[hidden]"), so the core never chooses words.

Prices, times, dates, order numbers (`YB...`), ranks, scores, room numbers and quantities
are left alone: they are short digit runs, or runs glued to letters, or shapes no phone has.
The labelled set in `tests/unit/relay/leak_corpus.py` measures recall and false positives.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class LeakKind(StrEnum):
    PHONE = "phone"
    WECHAT = "wechat"
    QQ = "qq"
    EMAIL = "email"
    HANDLE = "handle"  # @name, a Telegram or other app's user name
    TELEGRAM = "telegram"  # t.me / telegram.me links
    URL = "url"


# When two detectors claim overlapping text, the merged span takes the most specific kind.
_PRIORITY = {
    LeakKind.EMAIL: 0,
    LeakKind.TELEGRAM: 1,
    LeakKind.WECHAT: 2,
    LeakKind.QQ: 3,
    LeakKind.PHONE: 4,
    LeakKind.HANDLE: 5,
    LeakKind.URL: 6,
}

# Private-use characters nobody types: the placeholder cannot be forged from user text
# (`sanitize` strips them from input before masking).
MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"
_PLACEHOLDER = re.compile(f"{MARK_OPEN}([a-z]+){MARK_CLOSE}")


@dataclass(frozen=True)
class Leak:
    kind: LeakKind
    start: int  # offsets in the original text
    end: int


@dataclass(frozen=True)
class MaskedText:
    text: str  # the masked text, with a placeholder where each leak was
    leaks: tuple[Leak, ...]

    @property
    def count(self) -> int:
        return len(self.leaks)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds found, each once, in a stable order."""
        return tuple(sorted({leak.kind.value for leak in self.leaks}, key=_kind_order))


def _kind_order(kind: str) -> int:
    return _PRIORITY[LeakKind(kind)]


# -- normalisation ---------------------------------------------------------------------------

_CHINESE_DIGITS = {
    "零": "0", "〇": "0", "○": "0",
    "一": "1", "壹": "1", "幺": "1",
    "二": "2", "贰": "2", "貳": "2",
    "三": "3", "叁": "3", "參": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6", "陸": "6",
    "七": "7", "柒": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9",
}
# Invisible or joining marks people slip between digits; they count as separators.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\ufe0f", "\u20e3", "\u00ad"}


def _normal_char(char: str) -> str:
    if char in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[char]
    if char in _INVISIBLE:
        return " "
    if char in (MARK_OPEN, MARK_CLOSE):
        return " "
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) != 1:
        folded = char
    lowered = folded.lower()
    return lowered if len(lowered) == 1 else folded


class _Folds(dict[int, str]):
    """Code point -> `_normal_char` of it, as `str.translate` reads a table: each character is
    folded once per process (up to 16,384 of them are kept)."""

    def __missing__(self, code: int) -> str:
        folded = _normal_char(chr(code))
        if len(self) < 16_384:
            self[code] = folded
        return folded


_FOLDS = _Folds()


def normalise(text: str) -> str:
    """Same length as `text`, so offsets carry over; digits, ASCII and lower case only."""
    if text.isascii():
        # NFKC leaves ASCII as it is, and no numeral or mark folded above is ASCII.
        return text.lower()
    return text.translate(_FOLDS)


def sanitize(text: str) -> str:
    """Remove the placeholder marks from user input, so nobody can fake a masked span."""
    return text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


# -- phone numbers ---------------------------------------------------------------------------

# Characters that may sit between the digits of one number (at most three in a row).
_SEP = r"[ \t\r\n\-.·_/—–~,、()\[\]|]"
_DIGIT_RUN = re.compile(rf"\+?\d(?:{_SEP}{{0,3}}\d)*")
_DIGITS = re.compile(r"\d+")
MIN_PHONE_DIGITS = 7  # the fewest any phone has (one after a cue)
MAX_PHONE_DIGITS = 15

# How people group the eleven digits of a mobile number.
_MOBILE_GROUPINGS = {
    (11,), (3, 4, 4), (3, 8), (4, 4, 3), (4, 3, 4), (3, 3, 5), (7, 4), (3, 4, 2, 2),
    (3, 2, 2, 2, 2), (1, 10), (3, 1, 3, 4),
}
_PHONE_CUE = re.compile(
    r"(?:电话|手机|号码|手机号|座机|致电|拨打|打给|打我|call|phone|tel|mobile|cell|whatsapp|"
    r"sms|text me|ring me|联系方式|联系我|联系电话|热线|hotline|line)"
    r"[^\d\n]{0,8}$"
)
# A run glued to one of these words still is a contact ("tel13812345678", "vx13812345678").
_CUE_WORDS = {"tel", "phone", "mobile", "cell", "call", "vx", "wx", "v", "qq", "weixin",
              "wechat", "whatsapp", "q"}


def _glued_to_word(norm: str, start: int) -> bool:
    """Whether the run continues a word or code (order numbers "YB2026...", "no.3", "x138")."""
    i = start
    if i > 0 and norm[i - 1] in "-_#":
        i -= 1
    j = i
    while j > 0 and "a" <= norm[j - 1] <= "z":
        j -= 1
    if j == i:
        return False
    return norm[j:i] not in _CUE_WORDS


def _is_phone(norm: str, start: int, groups: list[str], plus: bool) -> bool:
    digits = "".join(groups)
    before = norm[max(0, start - 16):start]
    if _PHONE_CUE.search(before) and MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        return True
    if plus or (digits.startswith("00") and len(groups[0]) <= 5):
        national = digits[2:] if digits.startswith("00") else digits
        return 8 <= len(national) <= 15
    sizes = tuple(len(g) for g in groups)
    core = digits
    if digits.startswith("86") and len(digits) == 13:
        core = digits[2:]
        sizes = sizes[1:] if sizes[0] == 2 else (11,)
    if len(core) == 11 and core[0] == "1" and core[1] in "3456789":
        return sizes in _MOBILE_GROUPINGS or all(size <= 2 for size in sizes)
    if digits.startswith("0") and digits[1:2] != "0" and 10 <= len(digits) <= 12:
        # A landline with its area code: 010-12345678, 0755 8888 6666, 02161234567.
        return sizes[0] in (3, 4) or len(sizes) == 1
    return sizes == (3, 3, 4)  # 415-555-0132, (415) 555 0132


def _phones(norm: str) -> list[Leak]:
    found = []
    for match in _DIGIT_RUN.finditer(norm):
        if match.end() - match.start() < MIN_PHONE_DIGITS:
            continue  # too few digits for any phone (a price, a time, an order's count)
        spans = [(m.start() + match.start(), m.end() + match.start())
                 for m in _DIGITS.finditer(match.group())]
        plus = match.group().startswith("+")
        if _glued_to_word(norm, match.start()):
            continue
        groups = [norm[a:b] for a, b in spans]
        if _is_phone(norm, match.start(), groups, plus):
            found.append(Leak(LeakKind.PHONE, match.start(), spans[-1][1]))
            continue
        # A number next to other numbers ("2人 13812345678", "房间1302 138 1234 5678"): try
        # the runs of whole groups inside, longest first.
        found.extend(_phone_inside(norm, spans))
    return found


def _phone_inside(norm: str, spans: list[tuple[int, int]]) -> list[Leak]:
    """Phones made of whole groups of a longer run, left to right, longest first.

    A number has at most 15 digits, so each start looks at a bounded window: linear time
    however long the run ("1 1 1 1 ..." must not stall the relay).
    """
    found: list[Leak] = []
    first = 0
    while first < len(spans):
        window: list[tuple[int, int]] = []
        digits = 0
        for span in spans[first:]:
            digits += span[1] - span[0]
            if digits > MAX_PHONE_DIGITS:
                break
            window.append(span)
        hit = 0
        for length in range(len(window), 0, -1):
            part = window[:length]
            if length == len(spans) or sum(b - a for a, b in part) < MIN_PHONE_DIGITS:
                continue
            if _is_phone(norm, part[0][0], [norm[a:b] for a, b in part], False):
                hit = length
                break
        if hit:
            found.append(Leak(LeakKind.PHONE, window[0][0], window[hit - 1][1]))
            first += hit
        else:
            first += 1
    return found


# -- ids after a cue -------------------------------------------------------------------------

# Words between a cue and the id itself: "微信号是：", "wechat id is", "qq群", "vx 同名".
_FILLER = (
    r"(?:[ \t:：=＝\-~～>→,，。!！(（)）\[\]【】'\"“”]|号码?|账号|帐号|号是|是|为|搜|加|我|的|"
    r"吧|呗|呀|啊|哦|嘛|id|is|me|at|on)*"
)
_STRONG_FILLER = re.compile(r"[:：=＝号]|id|搜|加")
_ID = r"((?<![a-z])[a-z][a-z0-9_\-]{5,19}|\d(?:[ \-.]?\d){4,14})"

_WECHAT_CUE = (
    r"(?:微\s?信|薇信|威信|徽信|微心|危信|维信|v信|威x|薇x|wei\s?xin|weixin|wechat|绿泡泡|卫星号|"
    r"(?<![a-z0-9])vx|(?<![a-z0-9])wx|(?<![a-z0-9])v(?=\s*[:：号是]|\s*id)|"
    r"(?:加|\+|➕|add)\s*(?:我|me|个|下)?\s*(?:的)?\s*v(?![a-z0-9]{0,1}[a-z]))"
)
_QQ_CUE = r"(?:(?<![a-z0-9])qq|扣扣|企鹅号?|(?<![a-z0-9])q号|球球)(?:号码?|群|邮箱|空间)?"
_TG_CUE = r"(?:(?<![a-z0-9])tg|telegram|电报|纸飞机|飞机号|小飞机)"
_OTHER_APP_CUE = (
    r"(?:抖音号?|douyin|小红书号?|微博|weibo|(?<![a-z])ins|instagram|(?<![a-z])ig|discord|skype|"
    r"line\s?id|kakao(?:talk)?|snapchat|facebook|(?<![a-z])fb|twitter|推特|支付宝|alipay|"
    r"steam\s?id|steam好友|好友码|b站|bilibili)"
)

_WECHAT_AFTER_CUE = re.compile(_WECHAT_CUE + "(" + _FILLER + ")" + _ID)
_QQ_AFTER_CUE = re.compile(_QQ_CUE + "(" + _FILLER + r")(\d(?:[ \-.]?\d){4,12})(?!\d)")
_TG_AFTER_CUE = re.compile(_TG_CUE + "(" + _FILLER + r")((?:@|(?<![a-z]))[a-z][a-z0-9_]{3,31})")
_APP_AFTER_CUE = re.compile(
    _OTHER_APP_CUE + "(" + _FILLER + r")((?:@|(?<![a-z])[a-z]|\d)[a-z0-9_.\-#:]{3,29}[a-z0-9_])"
)

# The id first, the cue right after it: "zhang_88 是我微信", "12345678（qq）".
_WECHAT_BEFORE_CUE = re.compile(
    r"(?<![a-z0-9_@.])([a-z][a-z0-9_\-]{5,19})\s*[(（]?\s*(?:是我?的?|is my|=)?\s*"
    r"(?:微\s?信|薇信|威信|v信|vx|wx|wechat)"
)
_QQ_BEFORE_CUE = re.compile(
    r"(?<![\d])(\d(?:[ \-]?\d){4,11})\s*[(（]?\s*(?:是我?的?|is my)?\s*(?:qq|扣扣|企鹅)"
)
# An id-shaped token a few words after a cue: "加个微信吧，我的是 abc_123", "vx 发你了：kk_99".
_ID_TOKEN = re.compile(r"(?<![a-z0-9_@./\-])[a-z][a-z0-9_\-]{5,19}(?![a-z0-9_@\-]|\.[a-z])")
_NEAR_CUE = re.compile(
    r"(?:微\s?信|薇信|威信|v信|(?<![a-z0-9])vx|(?<![a-z0-9])wx|wechat|weixin|(?<![a-z0-9])qq|扣扣|"
    r"(?<![a-z0-9])tg|telegram|电报|纸飞机|飞机号)"
)
_NEAR_CUE_KINDS = {
    "qq": LeakKind.QQ, "扣扣": LeakKind.QQ, "tg": LeakKind.HANDLE, "telegram": LeakKind.HANDLE,
    "电报": LeakKind.HANDLE, "纸飞机": LeakKind.HANDLE, "飞机号": LeakKind.HANDLE,
}
CUE_WINDOW = 20
_WXID = re.compile(r"(?<![a-z0-9])wxid_[a-z0-9]{6,}")
_HAS_ID_MARK = re.compile(r"[\d_\-]")


def _looks_like_id(candidate: str, filler: str) -> bool:
    if candidate[0].isdigit() or candidate[0] == "@":
        return True
    # A plain word right after "微信" ("微信 please") is speech; an id has a digit, "_" or "-",
    # or an explicit "微信号:" before it.
    return bool(_HAS_ID_MARK.search(candidate) or _STRONG_FILLER.search(filler))


def _after_cue(pattern: re.Pattern[str], kind: LeakKind, norm: str, *, check: bool) -> list[Leak]:
    found = []
    for match in pattern.finditer(norm):
        filler, candidate = match.group(1), match.group(2)
        if check and not _looks_like_id(candidate, filler):
            continue
        found.append(Leak(kind, match.start(2), match.end(2)))
    return found


def _near_cue(norm: str) -> list[Leak]:
    found = []
    for match in _ID_TOKEN.finditer(norm):
        if not _HAS_ID_MARK.search(match.group()):
            continue
        window = norm[max(0, match.start() - CUE_WINDOW):match.start()]
        cues = _NEAR_CUE.findall(window)
        if not cues:
            continue
        found.append(Leak(_NEAR_CUE_KINDS.get(cues[-1], LeakKind.WECHAT), match.start(), match.end()))
    return found


def _before_cue(pattern: re.Pattern[str], kind: LeakKind, norm: str, *, check: bool) -> list[Leak]:
    found = []
    for match in pattern.finditer(norm):
        candidate = match.group(1)
        if check and not _HAS_ID_MARK.search(candidate):
            continue
        found.append(Leak(kind, match.start(1), match.end(1)))
    return found


# -- e-mail, handles, links ------------------------------------------------------------------

_MAIL_PROVIDERS = r"(?:qq|163|126|139|189|gmail|outlook|hotmail|foxmail|yahoo|sina|sohu|icloud|aliyun|yeah|live|proton(?:mail)?)"
_AT = r"(?:@| @ |\s?(?:\(at\)|\[at\]|（at）|艾特|圈a)\s?| at )"
_DOT = r"(?:\.|\(dot\)|\[dot\]| dot |点)"
_EMAIL = re.compile(
    r"(?<![a-z0-9._%+\-])[a-z0-9][a-z0-9._%+\-]*" + _AT +
    r"[a-z0-9\-]+(?:\s?" + _DOT + r"\s?[a-z0-9\-]+)*\s?" + _DOT + r"\s?[a-z]{2,10}(?![a-z])"
)
# "123456#qq.com" and "abc at gmail": the domain must be a known mail provider.
_EMAIL_LOOSE = re.compile(
    r"(?<![a-z0-9._%+\-])[a-z0-9][a-z0-9._%+\-]*\s?(?:#|＃| at |艾特)\s?" + _MAIL_PROVIDERS
    + r"(?:\s?" + _DOT + r"\s?(?:com|cn|net))?"
)
_HANDLE = re.compile(r"(?<![a-z0-9_.@/])@[a-z][a-z0-9_]{3,31}(?![a-z0-9_])")
_TELEGRAM_LINK = re.compile(
    r"(?<![a-z0-9])(?:https?://)?(?:t|telegram|telegram\s?\.\s?dog)\s?(?:\.|。|点|dot)\s?(?:me|dog)"
    r"\s?/\s?[+a-z0-9_/?=&\-]+|tg://[^\s]+"
)
_SCHEME_URL = re.compile(r"(?:https?|ftp)\s?:\s?//[^\s<>\"'，。！？、）】」]+")
_TLDS = (
    "com|cn|net|org|io|me|cc|xyz|top|info|co|app|dev|link|ly|gg|tv|ru|jp|hk|tw|uk|us|de|site|"
    "online|shop|vip|club|ai|biz|icu|store|tech"
)
_BARE_URL = re.compile(
    r"(?<![a-z0-9@._\-])(?:www\.)?(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+"
    rf"(?:{_TLDS})(?![a-z0-9\-])(?:[/:?#][^\s，。！？、）)】」]*)?"
)
_WWW = re.compile(r"(?<![a-z0-9])www\s?\.\s?[a-z0-9\-]+(?:\s?\.\s?[a-z0-9\-]+)+[^\s，。！？、）)】」]*")


def _simple(pattern: re.Pattern[str], kind: LeakKind, norm: str) -> list[Leak]:
    return [Leak(kind, m.start(), m.end()) for m in pattern.finditer(norm)]


def _bare_urls(norm: str) -> list[Leak]:
    found = []
    for match in _BARE_URL.finditer(norm):
        text = match.group()
        labels = text.split("/", 1)[0].split(".")
        # "1.co" or "3.me": a number with a dot is no domain.
        if labels[0].isdigit():
            continue
        found.append(Leak(LeakKind.URL, match.start(), match.end()))
    return found


# -- putting it together ---------------------------------------------------------------------


def find_leaks(text: str) -> list[Leak]:
    """Every contact detail in `text`, as non-overlapping spans in the original text."""
    norm = normalise(text)
    found: list[Leak] = []
    found += _simple(_EMAIL, LeakKind.EMAIL, norm)
    found += _simple(_EMAIL_LOOSE, LeakKind.EMAIL, norm)
    found += _simple(_TELEGRAM_LINK, LeakKind.TELEGRAM, norm)
    found += _simple(_SCHEME_URL, LeakKind.URL, norm)
    found += _simple(_WWW, LeakKind.URL, norm)
    found += _bare_urls(norm)
    found += _simple(_WXID, LeakKind.WECHAT, norm)
    found += _after_cue(_WECHAT_AFTER_CUE, LeakKind.WECHAT, norm, check=True)
    found += _before_cue(_WECHAT_BEFORE_CUE, LeakKind.WECHAT, norm, check=True)
    found += _after_cue(_QQ_AFTER_CUE, LeakKind.QQ, norm, check=False)
    found += _before_cue(_QQ_BEFORE_CUE, LeakKind.QQ, norm, check=False)
    found += _after_cue(_TG_AFTER_CUE, LeakKind.HANDLE, norm, check=True)
    found += _after_cue(_APP_AFTER_CUE, LeakKind.HANDLE, norm, check=True)
    found += _near_cue(norm)
    found += _simple(_HANDLE, LeakKind.HANDLE, norm)
    found += _phones(norm)
    return [_extend_over_marks(text, leak) for leak in _merge(found)]


def _extend_over_marks(text: str, leak: Leak) -> Leak:
    """Take the keycap and variation marks after the last digit along ("8️⃣")."""
    end = leak.end
    while end < len(text) and text[end] in _INVISIBLE:
        end += 1
    return leak if end == leak.end else Leak(leak.kind, leak.start, end)


def _merge(leaks: list[Leak]) -> list[Leak]:
    merged: list[Leak] = []
    for leak in sorted(leaks, key=lambda x: (x.start, -x.end)):
        if merged and leak.start < merged[-1].end:
            last = merged[-1]
            kind = min(last.kind, leak.kind, key=lambda k: _PRIORITY[k])
            merged[-1] = Leak(kind, last.start, max(last.end, leak.end))
        else:
            merged.append(leak)
    return merged


def mask(text: str) -> MaskedText:
    """`text` with each leak replaced by a placeholder for its kind (see `render`)."""
    clean = sanitize(text)
    leaks = find_leaks(clean)
    if not leaks:
        return MaskedText(clean, ())
    parts: list[str] = []
    position = 0
    for leak in leaks:
        parts.append(clean[position:leak.start])
        parts.append(f"{MARK_OPEN}{leak.kind.value}{MARK_CLOSE}")
        position = leak.end
    parts.append(clean[position:])
    return MaskedText("".join(parts), tuple(leaks))


def render(masked: str, marker: str | Callable[[str], str]) -> str:
    """The masked text for a reader: each placeholder becomes `marker` (or `marker(kind)`)."""
    if callable(marker):
        return _PLACEHOLDER.sub(lambda m: marker(m.group(1)), masked)
    return _PLACEHOLDER.sub(lambda _m: marker, masked)


def placeholder(kind: str) -> str:
    """The placeholder `mask` puts where a leak of `kind` was (for texts built by hand)."""
    return f"{MARK_OPEN}{LeakKind(kind).value}{MARK_CLOSE}"
