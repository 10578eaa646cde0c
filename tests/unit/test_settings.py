"""Settings read from the environment and from a .env file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings


def test_an_empty_variable_in_a_dotenv_file_means_not_set(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The lines an operator leaves empty after copying .env.example.
    env = tmp_path / ".env"
    env.write_text("YUEBAN_WECHAT_APP_ID=\nYUEBAN_TELEGRAM_ADMIN_CHAT_ID=\nYUEBAN_REDIS_URL=\n")
    for name in ("YUEBAN_WECHAT_APP_ID", "YUEBAN_TELEGRAM_ADMIN_CHAT_ID", "YUEBAN_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.wechat_enabled is False
    assert settings.telegram_admin_chat_id is None
    assert settings.redis_url is None
