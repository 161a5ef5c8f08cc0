"""The production shape (docker-compose.yml): `manage.py check --deploy` is clean under its
environment, compose has no default for the secret key or the database password and says what to
set, and the settings refuse to start in production without SECRET_KEY (docs/security.md)."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = (ROOT / "docker-compose.yml").read_text()
REQUIRED = ("SECRET_KEY", "POSTGRES_PASSWORD", "APP_DB_PASSWORD")
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def compose_app_environment() -> dict[str, str]:
    """The `environment:` of compose's x-app block (web, worker and beat), as written."""
    block = re.search(r"^x-app:.*?^  environment:\n(?P<body>(?:    [^\n]*\n)+)", COMPOSE, re.M | re.S)
    assert block, "docker-compose.yml has no x-app environment"
    values = {}
    for line in block["body"].splitlines():
        key, value = line.strip().split(": ", 1)
        values[key] = value.strip().strip('"')
    return values


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${VAR:-default} / ${VAR:?message}, with `given` as the operator's environment."""
    def one(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if given.get(name):
            return given[name]
        if op == ":-":
            return arg
        raise LookupError(f"{name}: {arg}")
    return VARIABLE.sub(one, value)


def production_environment(**given: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    app = {key: interpolate(value, given) for key, value in compose_app_environment().items()}
    return {**keep, **app, "DJANGO_SETTINGS_MODULE": "config.settings"}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)


def test_compose_has_no_default_secret_and_says_what_to_set():
    for name in REQUIRED:
        uses = [m for m in VARIABLE.finditer(COMPOSE) if m["name"] == name]
        assert uses, name
        for use in uses:
            assert use["op"] == ":?", f"{use[0]} must refuse to start without {name}"
            assert name in use["arg"] and "set" in use["arg"], use[0]
        try:
            production_environment(**{other: "x" for other in REQUIRED if other != name})
        except LookupError as refusal:
            assert str(refusal).startswith(f"{name}: set {name}")
        else:
            raise AssertionError(f"compose starts without {name}")


def test_check_deploy_is_clean_under_the_compose_environment():
    env = production_environment(SECRET_KEY=secrets.token_urlsafe(50), POSTGRES_PASSWORD=secrets.token_hex(16),
                                 APP_DB_PASSWORD=secrets.token_hex(16))
    assert env["PRODUCTION"] == "true" and env["DEBUG"] == "false"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = production_environment(SECRET_KEY="x", POSTGRES_PASSWORD="x", APP_DB_PASSWORD="x")
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr and "PRODUCTION=true" in result.stderr


def test_outside_production_a_development_key_is_used():
    env = production_environment(SECRET_KEY="x", POSTGRES_PASSWORD="x", APP_DB_PASSWORD="x")
    del env["SECRET_KEY"], env["PRODUCTION"]
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
