"""The Bot API specification (``api.json``) and request validation against it.

The stand-in never trusts the bot: every call is checked against the machine-readable
spec kept beside the project (``../shared/telegram-bot-api/api.json``): the method must
exist, required fields must be present, values must have the declared types (scalars,
``Array of X``, JSON-serialised objects checked recursively against ``types``, uploaded
files), and the length limits stated in field descriptions ("1-64 bytes", "0-1024
characters") must hold. Validation turns the wire values (all strings in form encodings)
into Python values the method implementations use.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
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
        return len(value.encode("utf-8")) if self.unit == "bytes" else len(value)

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


ObjectRule = Callable[[dict[str, Any], str], str | None]


def _inline_button_rule(button: dict[str, Any], path: str) -> str | None:
    # "Exactly one of the fields other than text, icon_custom_emoji_id, and style must be used"
    actions = [k for k in button if k not in ("text", "icon_custom_emoji_id", "style")]
    if not actions:
        return (
            "can't parse inline keyboard button: Text buttons are unallowed in the inline "
            f"keyboard ({path} has no action field)"
        )
    return None


_OBJECT_RULES: dict[str, ObjectRule] = {"InlineKeyboardButton": _inline_button_rule}

# Required fields for which Telegram gives an empty value a meaning (url "" removes the
# webhook); aiogram drops empty strings, so for these a missing value means empty.
_EMPTY_MEANS_SOMETHING = {("setWebhook", "url")}

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_INT_RE = re.compile(r"^[+-]?\d+$")


class _Checker:
    """Checks and converts one request (or one response object) against the spec."""

    def __init__(
        self,
        spec: ApiSpec,
        files: Mapping[str, UploadedFile],
        *,
        owner: str,
        empty_is_missing: bool = True,
    ) -> None:
        self.spec = spec
        self.files = files
        self.owner = owner
        # Telegram reads an empty required parameter as a missing one; in a result
        # (getWebhookInfo.url == "") an empty string is just a value.
        self.empty_is_missing = empty_is_missing
        self.warnings: list[str] = []
        self.files_used: set[str] = set()

    # -- objects -------------------------------------------------------------------------

    def check_fields(
        self,
        owner: str,
        fields: Mapping[str, FieldSpec],
        values: Mapping[str, Any],
        path: str,
        depth: int,
        *,
        top: bool,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in values.items():
            if name not in fields and not (top and name in self.files):
                self.warnings.append(f"{_join(path, name)} is not a parameter of {owner}")
                result[name] = value
        parse_mode_given = bool(values.get("parse_mode"))
        for name, spec_field in fields.items():
            raw = values.get(name)
            if raw is None and top and "InputFile" in spec_field.types and name in self.files:
                raw = self.files[name]
                self.files_used.add(name)
            field_path = _join(path, name)
            if raw is None and (owner, name) in _EMPTY_MEANS_SOMETHING:
                raw = ""
            if raw == "" and (owner, name) in _EMPTY_MEANS_SOMETHING:
                result[name] = ""
                continue
            if raw is None or (self.empty_is_missing and raw == "" and spec_field.required):
                if spec_field.required:
                    detail = f"parameter {field_path} is required"
                    phrase = telegram_phrase(owner, name, "missing")
                    raise _Mismatch(f"{phrase} ({detail})" if phrase else detail, depth)
                continue
            value = self.check_any(spec_field.types, raw, field_path, depth + 1, top=top)
            if spec_field.constant is not None and value != spec_field.constant:
                raise _Mismatch(f'{field_path} must be "{spec_field.constant}"', depth + 1)
            if isinstance(value, str) and spec_field.limit is not None:
                deferred = spec_field.limit.after_entities and parse_mode_given
                if not deferred:
                    self.check_limit(owner, spec_field, value, field_path, depth + 1)
            if isinstance(value, int) and spec_field.int_range is not None:
                low, high = spec_field.int_range
                if not low <= value <= high:
                    raise _Mismatch(f"{field_path} must be between {low} and {high}", depth + 1)
            result[name] = value
        if rule := _OBJECT_RULES.get(owner):
            if problem := rule(result, path):
                raise _Mismatch(problem, depth + 1)
        return result

    def check_limit(
        self, owner: str, spec_field: FieldSpec, value: str, path: str, depth: int
    ) -> None:
        limit = spec_field.limit
        assert limit is not None
        size = limit.measure(value)
        if limit.minimum <= size <= limit.maximum:
            return
        detail = f"{path} must be {limit.describe()}, got {size}"
        phrase = telegram_phrase(owner, spec_field.name, "length")
        raise _Mismatch(f"{phrase} ({detail})" if phrase else detail, depth)

    # -- type expressions ----------------------------------------------------------------

    def check_any(
        self, types: tuple[str, ...], raw: Any, path: str, depth: int, *, top: bool = False
    ) -> Any:
        if len(types) > 1 and all(t.startswith("Array of ") for t in types):
            # "Array of InputMediaPhoto" | "Array of InputMediaVideo": Telegram accepts an
            # album mixing the element types, so check element-wise against their union.
            items = self.decode_json(raw, path, depth, top=top)
            if not isinstance(items, list):
                raise _Mismatch(f"{path} must be an array", depth)
            inner = tuple(t.removeprefix("Array of ") for t in types)
            return [
                self.check_any(inner, item, f"{path}[{i}]", depth + 1)
                for i, item in enumerate(items)
            ]
        failures: list[_Mismatch] = []
        for type_name in types:
            attempt_warnings = len(self.warnings)
            try:
                return self.check_one(type_name, raw, path, depth, top=top)
            except _Mismatch as failure:
                del self.warnings[attempt_warnings:]
                failures.append(failure)
        if len(failures) == 1:
            raise failures[0]
        best = max(failures, key=lambda f: f.depth)
        if best.depth > depth:
            raise best
        raise _Mismatch(f"{path} must be {' or '.join(types)}", depth)

    def check_one(self, type_name: str, raw: Any, path: str, depth: int, *, top: bool) -> Any:
        # Top-level values may arrive as text (form encodings always, JSON sometimes).
        lenient = top
        if type_name.startswith("Array of "):
            items = self.decode_json(raw, path, depth, top=top)
            if not isinstance(items, list):
                raise _Mismatch(f"{path} must be an array of {type_name[9:]}", depth)
            inner = (type_name.removeprefix("Array of "),)
            return [
                self.check_any(inner, item, f"{path}[{i}]", depth + 1)
                for i, item in enumerate(items)
            ]
        if type_name == "Integer":
            return self.integer(raw, path, depth, lenient=lenient)
        if type_name == "Float":
            return self.floating(raw, path, depth, lenient=lenient)
        if type_name == "Boolean":
            return self.boolean(raw, path, depth, lenient=lenient)
        if type_name == "String":
            return self.string(raw, path, depth, lenient=lenient)
        if type_name == "InputFile":
            return self.input_file(raw, path, depth)
        type_spec = self.spec.types.get(type_name)
        if type_spec is None:
            self.warnings.append(f"{path}: type {type_name} is not described by the spec")
            return raw
        value = self.decode_json(raw, path, depth, top=top)
        if not isinstance(value, dict):
            raise _Mismatch(f"{path} must be a JSON object ({type_name})", depth)
        if type_spec.subtypes:
            return self.check_union(type_spec, value, path, depth)
        return self.check_fields(type_name, type_spec.fields, value, path, depth, top=False)

    def check_union(self, union: TypeSpec, value: dict[str, Any], path: str, depth: int) -> Any:
        if union.discriminator is not None:
            tag = value.get(union.discriminator)
            member = union.by_constant.get(tag) if isinstance(tag, str) else None
            if member is None:
                choices = ", ".join(f'"{c}"' for c in union.by_constant)
                raise _Mismatch(
                    f"{_join(path, union.discriminator)} must be one of {choices}", depth + 1
                )
            return self.check_any((member,), value, path, depth)
        return self.check_any(union.subtypes, value, path, depth)

    def decode_json(self, raw: Any, path: str, depth: int, *, top: bool) -> Any:
        if isinstance(raw, str) and top:
            try:
                return json.loads(raw)
            except ValueError as error:
                raise _Mismatch(f"{path} is not valid JSON: {error}", depth) from None
        return raw

    # -- scalars -------------------------------------------------------------------------

    @staticmethod
    def integer(raw: Any, path: str, depth: int, *, lenient: bool) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if lenient and isinstance(raw, str) and _INT_RE.match(raw.strip()):
            return int(raw)
        if lenient and isinstance(raw, float) and raw.is_integer():
            return int(raw)
        raise _Mismatch(f"{path} must be an Integer, got {_show(raw)}", depth)

    @staticmethod
    def floating(raw: Any, path: str, depth: int, *, lenient: bool) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if lenient and isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise _Mismatch(f"{path} must be a Float, got {_show(raw)}", depth)

    @staticmethod
    def boolean(raw: Any, path: str, depth: int, *, lenient: bool) -> bool:
        if isinstance(raw, bool):
            return raw
        if lenient and isinstance(raw, str):
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        raise _Mismatch(f"{path} must be a Boolean, got {_show(raw)}", depth)

    def string(self, raw: Any, path: str, depth: int, *, lenient: bool) -> str:
        if isinstance(raw, str):
            if raw.startswith("attach://"):
                name = raw.removeprefix("attach://")
                if name not in self.files:
                    raise _Mismatch(f"{path} refers to {raw} but no such file part was sent", depth)
                self.files_used.add(name)
            return raw
        # Telegram turns a number into its text at the top level of a request.
        if lenient and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise _Mismatch(f"{path} must be a String, got {_show(raw)}", depth)

    def input_file(self, raw: Any, path: str, depth: int) -> UploadedFile:
        if isinstance(raw, UploadedFile):
            return raw
        if isinstance(raw, str) and raw.startswith("attach://"):
            name = raw.removeprefix("attach://")
            if name in self.files:
                self.files_used.add(name)
                return self.files[name]
            raise _Mismatch(f"{path} refers to {raw} but no such file part was sent", depth)
        raise _Mismatch(f"{path} must be a file uploaded with multipart/form-data", depth)


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
    checker = _Checker(spec, files, owner=method.name)
    try:
        typed = checker.check_fields(method.name, method.fields, params, "", 0, top=True)
    except _Mismatch as failure:
        error = bad_request(failure.message)
        error.warnings = tuple(checker.warnings)
        raise error from None
    for part in files:
        if part not in checker.files_used:
            checker.warnings.append(f"file part {part!r} is not used by any parameter")
    return ValidatedCall(typed, checker.warnings, checker.files_used)


def check_limit_after_entities(
    spec: ApiSpec | None, owner: str, field_name: str, plain_text: str
) -> None:
    """Re-check a "N-M characters after entities parsing" limit on the parsed text."""
    if spec is None:
        return
    method = spec.method(owner)
    fields = method.fields if method else spec.types[owner].fields if owner in spec.types else {}
    spec_field = fields.get(field_name)
    if spec_field is None or spec_field.limit is None:
        return
    checker = _Checker(spec, {}, owner=owner)
    try:
        checker.check_limit(owner, spec_field, plain_text, field_name, 0)
    except _Mismatch as failure:
        raise bad_request(failure.message) from None


def conformance_problems(spec: ApiSpec, types: tuple[str, ...], value: Any) -> list[str]:
    """Problems of a value the stand-in returns, checked like a request (used by tests)."""
    checker = _Checker(spec, {}, owner="result", empty_is_missing=False)
    try:
        checker.check_any(types, value, "result", 0)
    except _Mismatch as failure:
        return [failure.message]
    return [w for w in checker.warnings if "is not a parameter" in w]


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
