"""README.md documents what a newcomer needs: the two commands and every setting."""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [
        f"YUEBAN_{name.upper()}"
        for name in Settings.model_fields
        if f"`YUEBAN_{name.upper()}`" not in README
    ]
    assert missing == [], f"README.md does not document: {missing}"


def test_the_two_fresh_machine_commands_are_named() -> None:
    assert "make demo" in README
    assert "make test" in README


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
