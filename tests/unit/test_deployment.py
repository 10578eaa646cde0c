"""The docker compose deployment starts: every setting, command and secret it names is real.

docker-compose.yml, .env.example and the Dockerfile name settings, `yueban` subcommands and
the console script by hand; these tests fail when one of them is renamed in the code and
the deployment would no longer start (or would start without a secret).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlparse

import pytest
import typer
import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr

from app import cli
from app.settings import PLACEHOLDERS, ConfigurationError, Settings
from app.telegram import check_telegram_settings
from app.wechat import HEALTH_PATH as WECHAT_HEALTH_PATH
from bots.telegram.webhook import HEALTH_PATH as TELEGRAM_HEALTH_PATH

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE_TEXT = (ROOT / ".env.example").read_text(encoding="utf-8")
DOCKERFILE_TEXT = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# YUEBAN_* names the deployment may pass although Settings does not read them, with why.
NOT_SETTINGS: dict[str, str] = {
    "YUEBAN_HTTP_WORKERS": "worker processes on the one port; ignored where Settings lacks it",
}

# What an operator fills into .env for each variable compose requires (`${NAME:?…}`).
FILLED_IN = {
    "POSTGRES_PASSWORD": "k7Qm2Rt9Vx4Lp8Zs",
    "YUEBAN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "YUEBAN_TELEGRAM_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "YUEBAN_TELEGRAM_WEBHOOK_URL": "https://bot.yueban.cn/telegram/webhook",
    "YUEBAN_TELEGRAM_WEBHOOK_SECRET": "Xq3v9LmZp2Rt7Ks4Wd8Nb6Yc",
}


# --- what compose does with the files ---------------------------------------------------

class ComposeRefuses(Exception):
    """`${NAME:?message}` met an unset (or empty) variable: compose does not start."""


_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?msg}`, `$$`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op") or "", match.group("arg") or ""
        missing = not env.get(name) if op.startswith(":") else name not in env
        if op.endswith("?") and missing:
            raise ComposeRefuses(f"{name}: {arg}")
        if op.endswith("-") and missing:
            return arg
        return env.get(name, "")

    return _REFERENCE.sub(substitute, value)


def read_dotenv(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def container_env(service: str, dotenv: Mapping[str, str]) -> dict[str, str]:
    """A container's environment: the image's ENV, the env_file, then `environment`."""
    spec = SERVICES[service]
    env: dict[str, str] = image_env() if "build" in spec else {}
    if spec.get("env_file"):
        assert spec["env_file"] in (".env", [".env"]), spec["env_file"]
        env.update({k: interpolate(v, dotenv) for k, v in dotenv.items()})
    environment = spec.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({k: interpolate(str(v), dotenv) for k, v in environment.items()})
    return env


def compose_required() -> set[str]:
    return set(re.findall(r"\$\{(\w+):?\?", COMPOSE_TEXT))


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def is_secret(field_name: str) -> bool:
    annotation = Settings.model_fields[field_name].annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def settings_env_names() -> dict[str, str]:
    """Environment variable name -> Settings field, as pydantic-settings reads them."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names[(alias or f"{prefix}{field_name}").upper()] = field_name
    return names


# --- the Dockerfile and the CLI ----------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE_TEXT)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile_instructions() if kw == keyword]


def exec_form(keyword: str) -> list[str]:
    (last,) = dockerfile(keyword)[-1:]
    return json.loads(last)


def image_env() -> dict[str, str]:
    pairs = [pair for rest in dockerfile("ENV") for pair in shlex.split(rest)]
    return dict(pair.split("=", 1) for pair in pairs)


# click's UsageError, wherever this typer takes click from (its own copy or the package)
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def resolve(argv: list[str]) -> list[str]:
    """The path of the `yueban` subcommand argv runs; raises UsageError if it is not one."""
    command = typer.main.get_command(cli.app)
    path, args = ["yueban"], list(argv)
    while hasattr(command, "commands"):  # a group: the next word names a subcommand
        if not args or args[0] not in command.commands:
            raise typer.BadParameter(f"{' '.join(path)} has no command {args[:1]}")
        name = args.pop(0)
        command, path = command.commands[name], [*path, name]
    command.make_context(" ".join(path), args)
    return path[1:]


def yueban_commands(service: str) -> list[list[str]]:
    """Each `yueban …` argv the service runs in the image (the entrypoint or a shell line)."""
    spec = SERVICES[service]
    entrypoint = spec.get("entrypoint") or exec_form("ENTRYPOINT")
    command = spec.get("command") or exec_form("CMD")
    if isinstance(entrypoint, str):
        entrypoint = shlex.split(entrypoint)
    if isinstance(command, str):
        command = shlex.split(command)
    if entrypoint[:2] == ["sh", "-c"]:
        script = " ".join(entrypoint[2:] + command)
        steps = [shlex.split(step) for step in re.split(r"&&|;|\n", script) if step.strip()]
        assert all(step[0] == "yueban" for step in steps), f"{service} runs {script!r}"
        return [step[1:] for step in steps]
    assert entrypoint == ["yueban"], f"{service} runs {entrypoint + command}"
    return [command]


def image_services() -> list[str]:
    return [name for name, spec in SERVICES.items() if "build" in spec]


# --- the tests -------------------------------------------------------------------------

def test_every_yueban_variable_the_deployment_names_is_a_setting() -> None:
    settings = settings_env_names()
    for extra in NOT_SETTINGS:
        assert extra.startswith("YUEBAN_")
    named = {
        source: set(re.findall(r"\bYUEBAN_[A-Z0-9_]+\b", text))
        for source, text in (
            ("docker-compose.yml", COMPOSE_TEXT),
            (".env.example", ENV_EXAMPLE_TEXT),
            ("Dockerfile", DOCKERFILE_TEXT),
        )
    }
    unknown = {
        source: sorted(names - settings.keys() - NOT_SETTINGS.keys())
        for source, names in named.items()
    }
    assert unknown == {source: [] for source in named}, "not a Settings field"


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^#?\s*(YUEBAN_[A-Z0-9_]+)=", ENV_EXAMPLE_TEXT, re.MULTILINE))
    assert sorted(settings_env_names().keys() - listed) == []


def test_every_command_compose_runs_is_a_yueban_subcommand() -> None:
    ran = {service: [resolve(argv) for argv in yueban_commands(service)]
           for service in image_services()}
    assert ran["bot"] == [["run"]]
    # the catalog is seeded into tables the migrations made
    assert ran["migrate"] == [["db", "upgrade"], ["admin", "catalog", "seed"]]


def test_the_command_check_refuses_what_yueban_does_not_have() -> None:
    with pytest.raises(UsageError):
        resolve(["db", "migrate"])
    with pytest.raises(UsageError):
        resolve(["admin", "catalog"])
    with pytest.raises(UsageError):
        resolve(["run", "--workers", "2"])


def test_the_bot_starts_with_what_compose_requires(monkeypatch: pytest.MonkeyPatch) -> None:
    required = compose_required()
    unfilled = sorted(required - FILLED_IN.keys())
    assert unfilled == [], "give FILLED_IN a real-looking value for these"
    dotenv = read_dotenv(ENV_EXAMPLE_TEXT) | {name: FILLED_IN[name] for name in required}
    settings = settings_from(container_env("bot", dotenv), monkeypatch)

    assert not settings.is_demo
    settings.check_secrets()
    check_telegram_settings(settings)
    assert settings.telegram_webhook_url, "the workers behind the load balancer take webhooks"
    # reachable from outside its container, on the port compose publishes
    assert settings.http_host == "0.0.0.0"
    published = [interpolate(str(port), dotenv).rsplit(":", 1)[1]
                 for port in SERVICES["bot"]["ports"]]
    assert published == [str(settings.http_port)]
    # the database and Redis it talks to are the compose services
    assert urlparse(settings.database_url).hostname in SERVICES
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url and urlparse(settings.redis_url).hostname in SERVICES
    assert urlparse(settings.database_url).password == FILLED_IN["POSTGRES_PASSWORD"]

    # Each secret this configuration needs is one compose refuses to start without.
    names = {field: env for env, field in settings_env_names().items()}
    needed = []
    for field in Settings.model_fields:
        if is_secret(field) and getattr(settings, field) is not None:
            try:
                settings.model_copy(update={field: None}).check_secrets()
            except ConfigurationError:
                needed.append(names[field])
    assert "YUEBAN_ENCRYPTION_KEY" in needed
    assert sorted(set(needed) - required) == []


def test_migrations_get_the_same_database_and_key_as_the_bot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dotenv = {name: FILLED_IN[name] for name in compose_required()}
    bot = settings_from(container_env("bot", dotenv), monkeypatch)
    migrate = settings_from(container_env("migrate", dotenv), monkeypatch)
    assert migrate.database_url == bot.database_url
    assert migrate.effective_encryption_key() == bot.effective_encryption_key()


def test_the_example_env_is_refused_until_filled_in(monkeypatch: pytest.MonkeyPatch) -> None:
    example = read_dotenv(ENV_EXAMPLE_TEXT)
    fields = settings_env_names()
    secrets = sorted(name for name in compose_required()
                     if name in fields and is_secret(fields[name]))
    assert secrets, "compose requires no secret at all"
    not_placeholders = {name: example.get(name) for name in secrets
                        if example.get(name, "").strip().lower() not in PLACEHOLDERS}
    assert not_placeholders == {}
    # as shipped, compose starts nothing: not even PostgreSQL with a known password
    with pytest.raises(ComposeRefuses, match="POSTGRES_PASSWORD"):
        container_env("postgres", example)
    # with only the database password filled in, `yueban run` still refuses to start
    compose_only = {name: FILLED_IN[name] for name in compose_required() - fields.keys()}
    settings = settings_from(container_env("bot", example | compose_only), monkeypatch)
    with pytest.raises(ConfigurationError):
        settings.check_secrets()


def test_the_bot_waits_for_migrations_and_a_healthy_redis() -> None:
    bot, migrate = SERVICES["bot"]["depends_on"], SERVICES["migrate"]["depends_on"]
    assert bot["migrate"]["condition"] == "service_completed_successfully"
    assert bot["redis"]["condition"] == "service_healthy"
    assert migrate["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert SERVICES["redis"]["healthcheck"]["test"]
    # a one-shot that compose restarts never completes, and the bot would never start
    assert SERVICES["migrate"].get("restart", "no") in {"no", "on-failure"}
    assert SERVICES["postgres"]["image"].split(":")[1].startswith("15")
    assert any(volume.split(":")[0] in COMPOSE["volumes"]
               for volume in SERVICES["postgres"]["volumes"])


def test_the_image_runs_the_yueban_console_script() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    entrypoint = exec_form("ENTRYPOINT")
    assert len(entrypoint) == 1 and entrypoint[0] in scripts
    module, _, function = scripts[entrypoint[0]].partition(":")
    assert callable(getattr(import_module(module), function))
    assert dockerfile("FROM")[-1].startswith("python:3.11-slim")
    assert dockerfile("USER") and dockerfile("USER")[-1] not in {"root", "0"}
    (healthcheck,) = dockerfile("HEALTHCHECK")
    assert TELEGRAM_HEALTH_PATH == WECHAT_HEALTH_PATH
    assert TELEGRAM_HEALTH_PATH in healthcheck


def test_the_image_holds_every_package_pyproject_installs() -> None:
    copied = {Path(rest.split()[0]).name for rest in dockerfile("COPY")}
    packages = {pattern.rstrip("*").rstrip(".")
                for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert sorted(packages - copied) == []
    assert {"pyproject.toml", PYPROJECT["project"]["readme"]} <= {
        name for rest in dockerfile("COPY") for name in rest.split()[:-1]}
    assert any(re.search(r"\bpip install \.", rest) for rest in dockerfile("RUN"))


def test_the_build_context_leaves_out_the_virtualenv_git_and_secrets() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", ".env", "*.db"} <= ignored
