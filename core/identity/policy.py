"""Configurable identity values, injected into handlers as `identity_policy`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.identity.model import LINK_CODE_TTL


@dataclass(frozen=True)
class IdentityPolicy:
    default_locale: str = "zh"
    default_timezone: str = "Asia/Shanghai"
    link_code_ttl: timedelta = LINK_CODE_TTL


DEFAULT_IDENTITY_POLICY = IdentityPolicy()
