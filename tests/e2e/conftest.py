"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser).

When a test that drives a page fails, every page it had open is kept as a full-page PNG, with the
page's URL and its last console errors beside it, in E2E_ARTIFACTS (default .data/e2e-artifacts/,
git-ignored); the failure report names the files.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from collections import deque
from pathlib import Path

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# Generous waits: CI machines are small and busy; a story that works never waits this long.
TIMEOUT_MS = 15000
CONSOLE_KEPT = 20  # the last console errors of each page, kept for the failure report
ARTIFACTS_SECTION = "e2e artifacts"  # tests/conftest.py names the screenshots again at the end


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("E2E_ARTIFACTS") or ROOT / ".data" / "e2e-artifacts")
    return folder if folder.is_absolute() else ROOT / folder


APP_ROLE = "crm_app"


@pytest.fixture(scope="session")
def _app_role(django_db_setup, django_db_blocker) -> str:
    from access.seal_policies import ensure_app_role

    with django_db_blocker.unblock():
        ensure_app_role(APP_ROLE, connection=connection)
    return APP_ROLE


@pytest.fixture(autouse=True)
def _live_server_as_app_role(_app_role):
    """The live server answers the browser as in production: connected as the application's role,
    behind the tenant seal, each request binding its organisation. The test's own thread (fixtures
    and checks) stays the tables' owner. Only during browser tests: other tests' threads (the
    concurrent editors) keep the test's role."""
    main = threading.main_thread()

    def as_app_role(sender, connection, **kwargs):  # noqa: ARG001
        if threading.current_thread() is not main:
            connection.connection.execute(f"SET ROLE {_app_role}")

    connection_created.connect(as_app_role, weak=False, dispatch_uid="e2e-live-server-as-app-role")
    yield
    connection_created.disconnect(dispatch_uid="e2e-live-server-as-app-role")


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        reason = f"no Chromium at {CHROMIUM}: install Debian's chromium package to run browser tests"
        print(f"\nSKIP e2e: {reason}")
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by
    # test set-up are still synchronous and safe here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def _watch(page) -> None:
    """Keep the page's last console errors and uncaught exceptions on it, for the failure report."""
    errors = page.e2e_console_errors = deque(maxlen=CONSOLE_KEPT)
    page.on("console", lambda message: errors.append(f"console.{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))


@pytest.fixture
def new_page(browser, request):
    """Open a page in a fresh browser context (its own cookies: one more person at the screen).
    The pages are closed after the test and, if it fails, kept as screenshots first."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    opened = request.node.e2e_pages = []

    def open_page():
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        _watch(page)
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:150]


def keep_artifacts(item, pages) -> list[str]:
    """Save each page as a full-page PNG plus a text file (URL, console errors); returns lines
    naming what was saved."""
    folder = artifacts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, page in enumerate(pages, start=1):
        if page.is_closed():
            continue
        stem = _slug(item.nodeid.split("/")[-1].replace(".py::", "--")) + (f"-page{n}" if len(pages) > 1 else "")
        png, txt = folder / f"{stem}.png", folder / f"{stem}.txt"
        try:
            page.screenshot(path=str(png), full_page=True, timeout=10000)
            shot = f"screenshot: {png}"
        except Exception as exc:  # a crashed page still gets its URL and console written down
            shot = f"screenshot failed: {exc}"
        errors = list(getattr(page, "e2e_console_errors", ()))
        txt.write_text("\n".join([f"test: {item.nodeid}", f"url: {page.url}", shot, "console errors:",
                                  *(errors or ["(none)"])]) + "\n", encoding="utf-8")
        lines += [f"page {n}: {page.url}", f"  {shot}", f"  details: {txt}"]
        lines += [f"  {error}" for error in errors[-5:]]
    return lines


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # The call's report is made before the fixtures are torn down: the pages are still open.
    pages = getattr(item, "e2e_pages", None)
    if report.when == "call" and report.failed and pages:
        lines = keep_artifacts(item, pages)
        if lines:
            report.sections.append((ARTIFACTS_SECTION, "\n".join(lines)))


@pytest.fixture(params=["en", "zh-hans"])
def language(request):
    """The language a story is run in: each journey is walked in English and in Chinese."""
    return request.param
