"""The Bot API specification (``api.json``) and request validation against it.

The stand-in never trusts the bot: every call is checked against the machine-readable
spec kept beside the project (``../shared/telegram-bot-api/api.json``): the method must
exist, required fields must be present, values must have the declared types (scalars,
``Array of X``, JSON-serialised objects checked recursively against ``types``, uploaded
files), and the length limits stated in field descriptions ("1-64 bytes", "0-1024
characters") must hold. Validation turns the wire values (all strings in form encodings)
into Python values the method implementations use.

Every call is validated, in the same process as the bot in tests and benchmarks, so the
spec is compiled once into a check per method and per type (``_Compiled``), and a path
such as ``reply_markup.inline_keyboard[0][1].text`` is spelled out only for a refusal or
a warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from bots.telegram.standin.errors import BotApiError, bad_request

log = logging.getLogger("yueban.telegram.standin")

SPEC_ENV_VAR = "YUEBAN_TELEGRAM_API_SPEC"


def default_spec_path() -> Path:
    """``<project root>/../shared/telegram-bot-api/api.json``, or the env override."""
    override = os.environ.get(SPEC_ENV_VAR)
    if override:
        return Path(override)
    project_root = Path(__file__).resolve().parents[3]
    return project_root.parent / "shared" / "telegram-bot-api" / "api.json"


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart/form-data request."""

    part_name: str
    filename: str
    content_type: str
    data: bytes


_LIMIT_RE = re.compile(r"(\d+)\s*-\s*(\d+)\s+(characters|bytes)")
_RANGE_RE = re.compile(r"Values between (\d+)\s*-\s*(\d+) are accepted")
_CONSTANT_RE = re.compile(r'(?:always "([a-z_]+)"|must be ([a-z_]+)$)')
_DISCRIMINATORS = ("type", "status", "source")


@dataclass(frozen=True)
class LengthLimit:
    """A length limit stated in a field description, e.g. "1-64 bytes"."""

    minimum: int
    maximum: int
    unit: Literal["characters", "bytes"]
    after_entities: bool

    def measure(self, value: str) -> int:
        if self.unit == "bytes" and not value.isascii():
            return len(value.encode("utf-8"))
        return len(value)

    def fits(self, value: str) -> bool:
        return self.minimum <= self.measure(value) <= self.maximum

    def describe(self) -> str:
        return f"{self.minimum}-{self.maximum} {self.unit}"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str
    limit: LengthLimit | None
    int_range: tuple[int, int] | None
    constant: str | None


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]
    # For unions whose members carry a constant ("type": always "photo"): field and map.
    discriminator: str | None = None
    by_constant: Mapping[str, str] = field(default_factory=dict)


def _parse_field(raw: Mapping[str, Any], *, allow_constant: bool) -> FieldSpec:
    description = str(raw.get("description", ""))
    limit = None
    if match := _LIMIT_RE.search(description):
        limit = LengthLimit(
            minimum=int(match.group(1)),
            maximum=int(match.group(2)),
            unit="bytes" if match.group(3) == "bytes" else "characters",
            after_entities="after entit" in description,
        )
    int_range = None
    if match := _RANGE_RE.search(description):
        int_range = (int(match.group(1)), int(match.group(2)))
    constant = None
    if allow_constant and raw["name"] in _DISCRIMINATORS:
        if match := _CONSTANT_RE.search(description):
            constant = match.group(1) or match.group(2)
    return FieldSpec(
        name=str(raw["name"]),
        types=tuple(raw.get("types", ())),
        required=bool(raw.get("required", False)),
        description=description,
        limit=limit,
        int_range=int_range,
        constant=constant,
    )


class ApiSpec:
    """The parsed ``api.json``: methods (looked up case-insensitively, like Telegram) and types."""

    def __init__(self, document: Mapping[str, Any], source: str = "<memory>") -> None:
        self.source = source
        self.version = str(document.get("version", "unknown"))
        members = {s for t in document.get("types", {}).values() for s in t.get("subtypes") or ()}
        self.types: dict[str, TypeSpec] = {}
        for name, raw in document.get("types", {}).items():
            fields = {
                f["name"]: _parse_field(f, allow_constant=name in members)
                for f in raw.get("fields") or ()
            }
            self.types[name] = TypeSpec(name, fields, tuple(raw.get("subtypes") or ()))
        for name, type_spec in list(self.types.items()):
            if type_spec.subtypes:
                self.types[name] = self._with_discriminator(type_spec)
        self.methods: dict[str, MethodSpec] = {}
        for name, raw in document.get("methods", {}).items():
            fields = {f["name"]: _parse_field(f, allow_constant=False) for f in raw.get("fields") or ()}
            self.methods[name.lower()] = MethodSpec(name, fields, tuple(raw.get("returns") or ()))
        self.compiled = _Compiled(self)

    def _with_discriminator(self, union: TypeSpec) -> TypeSpec:
        for candidate in _DISCRIMINATORS:
            by_constant: dict[str, str] = {}
            for member in union.subtypes:
                member_spec = self.types.get(member)
                spec_field = member_spec.fields.get(candidate) if member_spec else None
                if spec_field is None or spec_field.constant is None:
                    break
                by_constant[spec_field.constant] = member
            else:
                return TypeSpec(union.name, union.fields, union.subtypes, candidate, by_constant)
        return union

    @classmethod
    def load(cls, path: Path) -> ApiSpec:
        return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)

    def method(self, name: str) -> MethodSpec | None:
        return self.methods.get(name.lower())


@lru_cache(maxsize=4)
def _load_cached(path: str, _mtime_ns: int) -> ApiSpec:
    with open(path, encoding="utf-8") as handle:
        return ApiSpec(json.load(handle), source=path)


# Telegram's own wording for the refusals bot authors meet most; the stand-in appends
# the precise path and numbers so a failing test says what to fix.
_TELEGRAM_PHRASES: dict[tuple[str, str, str], str] = {
    ("sendMessage", "text", "missing"): "message text is empty",
    ("sendMessage", "text", "length"): "message is too long",
    ("editMessageText", "text", "missing"): "message text is empty",
    ("editMessageText", "text", "length"): "message is too long",
    ("InlineKeyboardButton", "callback_data", "length"): "BUTTON_DATA_INVALID",
    ("*", "chat_id", "missing"): "chat_id is empty",
    ("*", "caption", "length"): "message caption is too long",
}


def telegram_phrase(owner: str, field_name: str, problem: str) -> str | None:
    return _TELEGRAM_PHRASES.get((owner, field_name, problem)) or _TELEGRAM_PHRASES.get(
        ("*", field_name, problem)
    )


class _Mismatch(Exception):
    """A value does not fit a type; ``depth`` says how far into the value the check got."""

    def __init__(self, message: str, depth: int) -> None:
        super().__init__(message)
        self.message = message
        self.depth = depth


@dataclass
class ValidatedCall:
    params: dict[str, Any]
    warnings: list[str]
    files_used: set[str]


# A rule over a whole object, after its fields were checked: None when the object is
# fine, else the refusal worded for the object's path.
ObjectRule = Callable[[dict[str, Any]], Callable[[str], str] | None]


_BUTTON_NON_ACTIONS = frozenset({"text", "icon_custom_emoji_id", "style"})


def _inline_button_rule(button: dict[str, Any]) -> Callable[[str], str] | None:
    # "Exactly one of the fields other than text, icon_custom_emoji_id, and style must be used"
    if not button.keys() <= _BUTTON_NON_ACTIONS:
        return None
    return lambda path: (
        "can't parse inline keyboard button: Text buttons are unallowed in the inline "
        f"keyboard ({path} has no action field)"
    )


_OBJECT_RULES: dict[str, ObjectRule] = {"InlineKeyboardButton": _inline_button_rule}

# Required fields for which Telegram gives an empty value a meaning (url "" removes the
# webhook); aiogram drops empty strings, so for these a missing value means empty.
_EMPTY_MEANS_SOMETHING = {("setWebhook", "url")}

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_INT_RE = re.compile(r"^[+-]?\d+$")


# The last step to a value: its field name or array index (None: the request itself).
# Checks get it apart from ``_Run.at`` so that a scalar, which never goes deeper, costs
# no push and pop.
Step = str | int | None


class _Run:
    """The state of checking one request (or one response object).

    Checks do not build paths on the way down: ``at`` holds the field names and array
    indexes leading to the object or array being checked, and a path
    ("reply_markup.inline_keyboard[0][1].text") is rendered only for a refusal or a
    warning. The depth of a refusal, which picks the most telling one among a union's
    members, is how many steps into the value the check got.
    """

    __slots__ = ("at", "empty_is_missing", "files", "files_used", "warnings")

    def __init__(self, files: Mapping[str, UploadedFile], *, empty_is_missing: bool = True) -> None:
        self.files = files
        # Telegram reads an empty required parameter as a missing one; in a result
        # (getWebhookInfo.url == "") an empty string is just a value.
        self.empty_is_missing = empty_is_missing
        self.at: list[str | int] = []
        self.warnings: list[str] = []
        self.files_used: set[str] = set()

    def path(self, step: Step) -> str:
        text = ""
        for each in (*self.at, step):
            if isinstance(each, int):
                text = f"{text}[{each}]"
            elif each is not None:
                text = _join(text, each)
        return text

    def depth(self, step: Step) -> int:
        return len(self.at) + (step is not None)

    def refuse(self, problem: str, step: Step) -> _Mismatch:
        """``<path> <problem>``, about the value at ``step``."""
        return _Mismatch(f"{self.path(step)} {problem}", self.depth(step))


# One compiled type expression: the wire value in, the typed value out, or _Mismatch.
Check = Callable[[_Run, Any, Step], Any]


# -- scalars -------------------------------------------------------------------------------
# ``lenient``: a method's own parameters may arrive as text (form encodings always, JSON
# sometimes), so there a number or a flag is also read from its text.


def _integer(*, lenient: bool) -> Check:
    def check(run: _Run, raw: Any, step: Step) -> int:
        if type(raw) is int:
            return raw
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if lenient and isinstance(raw, str) and _INT_RE.match(raw.strip()):
            return int(raw)
        if lenient and isinstance(raw, float) and raw.is_integer():
            return int(raw)
        raise run.refuse(f"must be an Integer, got {_show(raw)}", step)

    return check


def _floating(*, lenient: bool) -> Check:
    def check(run: _Run, raw: Any, step: Step) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if lenient and isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise run.refuse(f"must be a Float, got {_show(raw)}", step)

    return check


def _boolean(*, lenient: bool) -> Check:
    def check(run: _Run, raw: Any, step: Step) -> bool:
        if isinstance(raw, bool):
            return raw
        if lenient and isinstance(raw, str):
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        raise run.refuse(f"must be a Boolean, got {_show(raw)}", step)

    return check


def _string(*, lenient: bool) -> Check:
    def check(run: _Run, raw: Any, step: Step) -> str:
        if isinstance(raw, str):
            if raw.startswith("attach://"):
                name = raw.removeprefix("attach://")
                if name not in run.files:
                    raise run.refuse(f"refers to {raw} but no such file part was sent", step)
                run.files_used.add(name)
            return raw
        # Telegram turns a number into its text at the top level of a request.
        if lenient and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise run.refuse(f"must be a String, got {_show(raw)}", step)

    return check


def _input_file(run: _Run, raw: Any, step: Step) -> UploadedFile:
    if isinstance(raw, UploadedFile):
        return raw
    if isinstance(raw, str) and raw.startswith("attach://"):
        name = raw.removeprefix("attach://")
        if name in run.files:
            run.files_used.add(name)
            return run.files[name]
        raise run.refuse(f"refers to {raw} but no such file part was sent", step)
    raise run.refuse("must be a file uploaded with multipart/form-data", step)


_SCALARS: dict[str, Callable[..., Check]] = {
    "Integer": _integer, "Float": _floating, "Boolean": _boolean, "String": _string,
}


def _decode_json(run: _Run, raw: Any, step: Step) -> Any:
    """A method's own parameter may carry an object or an array as JSON text."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as error:
            raise run.refuse(f"is not valid JSON: {error}", step) from None
    return raw


# -- arrays and alternatives ---------------------------------------------------------------


def _array(element: Check, refusal: str, *, wire: bool) -> Check:
    def check(run: _Run, raw: Any, step: Step) -> list[Any]:
        items = _decode_json(run, raw, step) if wire else raw
        if not isinstance(items, list):
            raise run.refuse(refusal, step)
        at = run.at
        if step is not None:
            at.append(step)
        checked = [element(run, item, index) for index, item in enumerate(items)]
        if step is not None:
            at.pop()
        return checked

    return check


def _mixed_array(element: Check, *, wire: bool) -> Check:
    """An album ("Array of InputMediaPhoto" or "Array of InputMediaVideo"): Telegram
    accepts one mixing the element types, so each element is checked against their union.

    Unlike any other value, such an array does not take back all its warnings when it is
    refused: a refused element takes back its own, the elements before it keep theirs.
    """

    def check(run: _Run, raw: Any, step: Step) -> list[Any]:
        items = _decode_json(run, raw, step) if wire else raw
        if not isinstance(items, list):
            raise run.refuse("must be an array", step)
        at = run.at
        if step is not None:
            at.append(step)
        checked = []
        for index, item in enumerate(items):
            warned = len(run.warnings)
            try:
                checked.append(element(run, item, index))
            except _Mismatch:
                del run.warnings[warned:]
                raise
        if step is not None:
            at.pop()
        return checked

    return check


def _alternatives(types: tuple[str, ...], checks: tuple[Check, ...]) -> Check:
    """The first alternative that fits; when none does, the refusal that got deepest
    into the value, or "must be A or B" when none got past its surface."""

    def check(run: _Run, raw: Any, step: Step) -> Any:
        failures: list[_Mismatch] = []
        warned, steps = len(run.warnings), len(run.at)
        for alternative in checks:
            try:
                return alternative(run, raw, step)
            except _Mismatch as failure:
                del run.warnings[warned:]
                del run.at[steps:]
                failures.append(failure)
        best = max(failures, key=lambda f: f.depth)
        if best.depth > run.depth(step):
            raise best
        raise run.refuse(f"must be {' or '.join(types)}", step)

    return check


# -- objects -------------------------------------------------------------------------------

_MAX_SHAPES = 64  # visit orders kept per object type


@dataclass(frozen=True, slots=True)
class _FieldRule:
    """One field of an object or a method, compiled from its ``FieldSpec``."""

    name: str
    check: Check
    required: bool
    # A method's InputFile parameter may come as a file part of the same name.
    from_files: bool
    empty_means_something: bool
    takes_back_warnings: bool
    # Anything to check on the typed value (constant, length, range)?
    refined: bool
    constant: str | None
    limit: LengthLimit | None
    int_range: tuple[int, int] | None
    missing_phrase: str | None
    length_phrase: str | None


class _ObjectCheck:
    """The fields of one object type, or the parameters of one method (``top``)."""

    def __init__(self, owner: str, *, top: bool) -> None:
        self.owner = owner
        self.top = top
        self.names: frozenset[str] = frozenset()
        # Fields are checked in the spec's order, so the first problem reported is the
        # same whatever order the bot sent them in; absent fields that need no look
        # (optional, not from a file part) are not visited at all.
        self.ordered: dict[str, tuple[int, _FieldRule]] = {}
        self.visit_absent: frozenset[str] = frozenset()
        self.from_files: frozenset[str] = frozenset()
        self.visit_orders: dict[tuple[str, ...], tuple[_FieldRule, ...]] = {}
        self.defers_limits = False
        self.object_rule = _OBJECT_RULES.get(owner)

    def define(self, rules: tuple[_FieldRule, ...]) -> None:
        self.names = frozenset(rule.name for rule in rules)
        self.ordered = {rule.name: (position, rule) for position, rule in enumerate(rules)}
        self.visit_absent = frozenset(
            r.name for r in rules if r.required or r.empty_means_something)
        self.from_files = frozenset(r.name for r in rules if r.from_files)
        self.defers_limits = any(r.limit is not None and r.limit.after_entities for r in rules)

    def check_value(self, run: _Run, raw: Any, step: Step) -> dict[str, Any]:
        """An object nested in a request (or a result)."""
        if not isinstance(raw, dict):
            raise run.refuse(f"must be a JSON object ({self.owner})", step)
        return self.check_fields(run, raw, step)

    def check_wire_value(self, run: _Run, raw: Any, step: Step) -> dict[str, Any]:
        """An object given as a method's parameter, possibly as JSON text."""
        return self.check_value(run, _decode_json(run, raw, step), step)

    def check_fields(self, run: _Run, values: Mapping[str, Any], step: Step) -> dict[str, Any]:
        at = run.at
        if step is not None:
            at.append(step)
        result: dict[str, Any] = {}
        if not values.keys() <= self.names:
            for name, value in values.items():
                if name not in self.names and not (self.top and name in run.files):
                    # (a key is a name even when a caller in Python made it a number)
                    where = _join(run.path(None), name)
                    run.warnings.append(f"{where} is not a parameter of {self.owner}")
                    result[name] = value
        parse_mode_given = self.defers_limits and bool(values.get("parse_mode"))
        for rule in self._to_visit(run, values):
            name = rule.name
            raw = values.get(name)
            if raw is None:
                if rule.from_files and name in run.files:
                    raw = run.files[name]
                    run.files_used.add(name)
                elif rule.empty_means_something:
                    result[name] = ""
                    continue
                elif rule.required:
                    raise self._missing(run, rule)
                else:
                    continue
            elif raw == "" and (rule.empty_means_something
                                or (rule.required and run.empty_is_missing)):
                if rule.empty_means_something:
                    result[name] = ""
                    continue
                raise self._missing(run, rule)
            warned = len(run.warnings)
            try:
                value = rule.check(run, raw, name)
            except _Mismatch:
                # A refused value takes back the warnings its own check made (an unknown
                # field deep inside it), save a mixed array (see _mixed_array).
                if rule.takes_back_warnings:
                    del run.warnings[warned:]
                raise
            if rule.refined:
                self._refine(run, rule, value, parse_mode_given)
            result[name] = value
        if self.object_rule is not None and (problem := self.object_rule(result)) is not None:
            raise _Mismatch(problem(run.path(None)), len(at) + 1)
        if step is not None:
            at.pop()
        return result

    def _to_visit(self, run: _Run, values: Mapping[str, Any]) -> tuple[_FieldRule, ...]:
        if self.from_files and run.files:
            return self._visit_order(values.keys() | (self.from_files & run.files.keys()))
        # Bots send few shapes of each object, so the order is kept per shape.
        shape = tuple(values)
        order = self.visit_orders.get(shape)
        if order is None:
            order = self._visit_order(values.keys())
            if len(self.visit_orders) < _MAX_SHAPES:
                self.visit_orders[shape] = order
        return order

    def _visit_order(self, present: AbstractSet[str]) -> tuple[_FieldRule, ...]:
        ordered = self.ordered
        names = (present | self.visit_absent) & ordered.keys()
        return tuple(rule for _, rule in sorted(ordered[name] for name in names))

    @staticmethod
    def _missing(run: _Run, rule: _FieldRule) -> _Mismatch:
        detail = f"parameter {run.path(rule.name)} is required"
        phrase = rule.missing_phrase
        return _Mismatch(f"{phrase} ({detail})" if phrase else detail, len(run.at))

    @staticmethod
    def _refine(run: _Run, rule: _FieldRule, value: Any, parse_mode_given: bool) -> None:
        if rule.constant is not None and value != rule.constant:
            raise run.refuse(f'must be "{rule.constant}"', rule.name)
        limit = rule.limit
        if limit is not None and isinstance(value, str):
            deferred = limit.after_entities and parse_mode_given
            if not deferred and not limit.fits(value):
                raise _Mismatch(
                    _length_refusal(limit, rule.length_phrase, value, run.path(rule.name)),
                    run.depth(rule.name))
        if rule.int_range is not None and isinstance(value, int):
            low, high = rule.int_range
            if not low <= value <= high:
                raise run.refuse(f"must be between {low} and {high}", rule.name)


def _length_refusal(limit: LengthLimit, phrase: str | None, value: str, path: str) -> str:
    detail = f"{path} must be {limit.describe()}, got {limit.measure(value)}"
    return f"{phrase} ({detail})" if phrase else detail


class _UnionCheck:
    """A type whose value is one of its subtypes, picked by a constant field when the
    members have one ("type": always "photo"), else the first that fits."""

    def __init__(self, union: TypeSpec) -> None:
        self.union = union
        self.members: dict[str, Check] = {}
        self.alternatives: Check | None = None
        self.choices = ", ".join(f'"{c}"' for c in union.by_constant)

    def check_value(self, run: _Run, raw: Any, step: Step) -> Any:
        if not isinstance(raw, dict):
            raise run.refuse(f"must be a JSON object ({self.union.name})", step)
        discriminator = self.union.discriminator
        if discriminator is None:
            assert self.alternatives is not None
            return self.alternatives(run, raw, step)
        tag = raw.get(discriminator)
        member = self.members.get(tag) if isinstance(tag, str) else None
        if member is None:
            path = _join(run.path(step), discriminator)
            raise _Mismatch(f"{path} must be one of {self.choices}", run.depth(step) + 1)
        return member(run, raw, step)

    def check_wire_value(self, run: _Run, raw: Any, step: Step) -> Any:
        return self.check_value(run, _decode_json(run, raw, step), step)


class _Compiled:
    """The spec turned into checks, each built once, on first use.

    A named type is registered before its fields are compiled, so recursive types
    (``Message.reply_to_message``) resolve to the check being built.
    """

    def __init__(self, spec: ApiSpec) -> None:
        self.spec = spec
        self._methods: dict[str, _ObjectCheck] = {}
        self._named: dict[str, _ObjectCheck | _UnionCheck] = {}
        self._types: dict[tuple[tuple[str, ...], bool], Check] = {}

    def method(self, method: MethodSpec) -> _ObjectCheck:
        compiled = self._methods.get(method.name)
        if compiled is None:
            compiled = _ObjectCheck(method.name, top=True)
            compiled.define(self._rules(method.name, method.fields, top=True))
            self._methods[method.name] = compiled
        return compiled

    def types(self, types: tuple[str, ...], *, wire: bool) -> Check:
        """The check of a type expression ("Integer or String", "Array of PhotoSize")."""
        key = (types, wire)
        compiled = self._types.get(key)
        if compiled is None:
            compiled = self._compile(types, wire=wire)
            self._types[key] = compiled
        return compiled

    def _compile(self, types: tuple[str, ...], *, wire: bool) -> Check:
        if _is_mixed_array(types):
            inner = tuple(t.removeprefix("Array of ") for t in types)
            return _mixed_array(self.types(inner, wire=False), wire=wire)
        if len(types) == 1:
            return self._compile_one(types[0], wire=wire)
        return _alternatives(types, tuple(self._compile_one(t, wire=wire) for t in types))

    def _compile_one(self, type_name: str, *, wire: bool) -> Check:
        if type_name.startswith("Array of "):
            inner = type_name.removeprefix("Array of ")
            return _array(self.types((inner,), wire=False), f"must be an array of {inner}",
                          wire=wire)
        if type_name in _SCALARS:
            return _SCALARS[type_name](lenient=wire)
        if type_name == "InputFile":
            return _input_file
        named = self._named_type(type_name)
        if named is None:
            def undescribed(run: _Run, raw: Any, step: Step) -> Any:
                run.warnings.append(f"{run.path(step)}: type {type_name} is not described by "
                                    "the spec")
                return raw

            return undescribed
        return named.check_wire_value if wire else named.check_value

    def _named_type(self, type_name: str) -> _ObjectCheck | _UnionCheck | None:
        compiled = self._named.get(type_name)
        if compiled is not None:
            return compiled
        type_spec = self.spec.types.get(type_name)
        if type_spec is None:
            return None
        if type_spec.subtypes:
            union = _UnionCheck(type_spec)
            self._named[type_name] = union
            if type_spec.discriminator is None:
                union.alternatives = self.types(type_spec.subtypes, wire=False)
            else:
                union.members = {tag: self.types((member,), wire=False)
                                 for tag, member in type_spec.by_constant.items()}
            return union
        fields = _ObjectCheck(type_name, top=False)
        self._named[type_name] = fields
        fields.define(self._rules(type_name, type_spec.fields, top=False))
        return fields

    def _rules(
        self, owner: str, fields: Mapping[str, FieldSpec], *, top: bool
    ) -> tuple[_FieldRule, ...]:
        return tuple(
            _FieldRule(
                name=name,
                check=self.types(spec_field.types, wire=top),
                required=spec_field.required,
                from_files=top and "InputFile" in spec_field.types,
                empty_means_something=(owner, name) in _EMPTY_MEANS_SOMETHING,
                takes_back_warnings=not _is_mixed_array(spec_field.types),
                refined=(spec_field.constant is not None or spec_field.limit is not None
                         or spec_field.int_range is not None),
                constant=spec_field.constant,
                limit=spec_field.limit,
                int_range=spec_field.int_range,
                missing_phrase=telegram_phrase(owner, name, "missing"),
                length_phrase=telegram_phrase(owner, name, "length"),
            )
            for name, spec_field in fields.items()
        )


def _is_mixed_array(types: tuple[str, ...]) -> bool:
    return len(types) > 1 and all(t.startswith("Array of ") for t in types)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(raw: Any) -> str:
    text = json.dumps(raw, ensure_ascii=False) if not isinstance(raw, UploadedFile) else "a file"
    return text if len(text) <= 40 else text[:37] + "..."


def validate_call(
    spec: ApiSpec,
    method: MethodSpec,
    params: Mapping[str, Any],
    files: Mapping[str, UploadedFile],
) -> ValidatedCall:
    """Check one call; returns typed parameters or raises a 400 ``BotApiError``."""
    run = _Run(files)
    try:
        typed = spec.compiled.method(method).check_fields(run, params, None)
    except _Mismatch as failure:
        error = bad_request(failure.message)
        error.warnings = tuple(run.warnings)
        raise error from None
    for part in files:
        if part not in run.files_used:
            run.warnings.append(f"file part {part!r} is not used by any parameter")
    return ValidatedCall(typed, run.warnings, run.files_used)


def check_limit_after_entities(
    spec: ApiSpec | None, owner: str, field_name: str, plain_text: str
) -> None:
    """Re-check a "N-M characters after entities parsing" limit on the parsed text."""
    if spec is None:
        return
    method = spec.method(owner)
    fields = method.fields if method else spec.types[owner].fields if owner in spec.types else {}
    spec_field = fields.get(field_name)
    if spec_field is None or spec_field.limit is None or spec_field.limit.fits(plain_text):
        return
    phrase = telegram_phrase(owner, spec_field.name, "length")
    raise bad_request(_length_refusal(spec_field.limit, phrase, plain_text, field_name))


def conformance_problems(spec: ApiSpec, types: tuple[str, ...], value: Any) -> list[str]:
    """Problems of a value the stand-in returns, checked like a request (used by tests)."""
    run = _Run({}, empty_is_missing=False)
    try:
        spec.compiled.types(types, wire=False)(run, value, "result")
    except _Mismatch as failure:
        return [failure.message]
    return [w for w in run.warnings if "is not a parameter" in w]


__all__ = [
    "SPEC_ENV_VAR",
    "ApiSpec",
    "BotApiError",
    "LengthLimit",
    "MethodSpec",
    "UploadedFile",
    "ValidatedCall",
    "check_limit_after_entities",
    "conformance_problems",
    "default_spec_path",
    "validate_call",
]
