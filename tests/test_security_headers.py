"""Security headers (docs/security.md): the Content Security Policy with no inline script or style,
the Permissions-Policy, HSTS and secure cookies when SECURE_COOKIES is on, and no-store on the pages
of logged-in users (not on the login page or the static files it loads)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
APP_DIRS = [p.name for p in ROOT.iterdir() if (p / "apps.py").exists() or p.name in ("config", "templates")]


def _csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_every_page_carries_the_policy_without_unsafe_inline(who, standard_user, client_for):
    client = Client() if who == "anonymous" else client_for(standard_user)
    response = client.get(reverse("login") if who == "anonymous" else reverse("work:index"))
    assert response.status_code == 200
    policy = _csp(response)
    assert policy["default-src"] == "default-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    # script-src and style-src fall back to default-src 'self'
    assert "script-src" not in policy and "style-src" not in policy


def test_htmx_is_told_not_to_add_its_inline_indicator_style(standard_user, client_for):
    html = client_for(standard_user).get(reverse("work:index")).content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert config and json.loads(config[1]) == {"includeIndicatorStyles": False, "allowEval": False}
    css = (ROOT / "static" / "css" / "app.css").read_text()
    assert ".htmx-request .htmx-indicator" in css


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"<[a-z][^<>]*\sstyle=", re.I), "a style attribute"),
    (re.compile(r"<[a-z][^<>]*\son[a-z]+=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]
TEMPLATE_COMMENTS = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)
PY_COMMENTS = re.compile(r"#[^\n]*")


def test_no_template_or_view_writes_inline_script_or_style():
    """What the policy would block, found where it is written rather than page by page."""
    found = []
    for app in APP_DIRS:
        for path in (ROOT / app).rglob("*"):
            if path.suffix not in (".html", ".py") or "migrations" in path.parts or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            # comments may name what they avoid; blanked, keeping the line numbers
            comments = TEMPLATE_COMMENTS if path.suffix == ".html" else PY_COMMENTS
            text = comments.sub(lambda m: re.sub(r"[^\n]", " ", m[0]), text)
            for pattern, what in INLINE:
                for match in pattern.finditer(text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not found, "\n".join(found)


def test_permissions_policy_switches_off_features_the_crm_does_not_use(standard_user, client_for):
    for response in (Client().get(reverse("login")), client_for(standard_user).get(reverse("work:index"))):
        features = dict(item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))
        for feature in ("camera", "microphone", "geolocation", "payment", "usb", "display-capture"):
            assert features[feature] == "()", feature


def test_a_logged_in_page_is_not_stored(standard_user, client_for):
    response = client_for(standard_user).get(reverse("work:index"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_view_that_sets_its_own_caching_keeps_it(settings, standard_user, client_for):
    from django.http import HttpResponse

    from config.headers import NoStoreMiddleware

    def view(request):
        response = HttpResponse("ok")
        response["Cache-Control"] = "max-age=60, private"
        return response

    request = client_for(standard_user).get(reverse("work:index")).wsgi_request
    assert NoStoreMiddleware(view)(request)["Cache-Control"] == "max-age=60, private"


def test_the_login_pages_static_files_are_not_marked_no_store(settings, standard_user, client_for):
    """Static files keep whitenoise's caching, for visitors and logged-in users alike (the login page
    itself is marked never-cache by Django's login view, as before)."""
    settings.WHITENOISE_USE_FINDERS = True  # serve static/ without collectstatic, as whitenoise does in DEBUG
    anonymous = Client()
    login = anonymous.get(reverse("login"))
    assert login.status_code == 200
    html = login.content.decode()
    assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js|svg))"', html)
    assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
    member = client_for(standard_user)
    for asset in assets:
        for client in (anonymous, member):
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert "no-store" not in response.get("Cache-Control", ""), asset


# --- HSTS and secure cookies: settings are read from the environment at start-up, so each case
# starts a Python process of its own with that environment.

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client()
secure = client.get("/login/", secure=True)
plain = client.get("/login/")
print(json.dumps({
    "hsts": secure.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(secure.cookies["csrftoken"]["secure"]) if "csrftoken" in secure.cookies else None,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location"),
}))
"""


def _probe(**env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECURE_COOKIES", "PRODUCTION", "DEBUG")}
    environment.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_hsts_secure_cookies_and_https_redirect_when_secure_cookies_is_on():
    on = _probe(SECURE_COOKIES="true")
    assert on["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert on["session_cookie_secure"] is True and on["csrf_cookie_secure"] is True
    assert on["plain_status"] == 301 and on["plain_location"].startswith("https://")


def test_no_hsts_and_no_redirect_when_secure_cookies_is_off():
    off = _probe(SECURE_COOKIES="false")
    assert off["hsts"] is None
    assert off["session_cookie_secure"] is False and off["csrf_cookie_secure"] is False
    assert off["plain_status"] == 200
