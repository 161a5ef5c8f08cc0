"""Shared fixtures: organisations and users made through the actions, as people would.

Every user fixture returns an `access.models.User` bound to its org with
`access.visibility.bind_org`, so it carries `.org` and `.membership` and can be passed
straight to actions as `actor=`.

    org              the Organization "Acme" (made by do_sign_up)
    admin_user       Acme's administrator ("acme-admin", Alice Admin)
    standard_user    a standard member of Acme ("sam", shown as "Sam")
    other_user       another standard member of Acme ("olga", shown as "Olga")
    other_org_user   the administrator of a second org "Globex" ("globex-admin")
    other_org        the Organization "Globex"
    make_user        make_user(org, role="standard", username=None) -> a new bound member of org
    client_for       client_for(user) -> a django.test.Client logged in as user (force_login)
"""
from __future__ import annotations

import itertools
import uuid

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org

PASSWORD = "correct-horse-42"
_counter = itertools.count()
# Test databases of parallel workers reuse ids, so each run and worker gets its own cache keys
# in the (real, shared) Redis.
_CACHE_PREFIX = f"test-{uuid.uuid4().hex[:12]}"

_truncate_flush = DatabaseOperations.sql_flush


def _delete_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """After a transactional test the tables hold a handful of rows: DELETE empties them in
    milliseconds where TRUNCATE of every table costs seconds (a new file per table). Foreign
    keys are deferrable, so they are checked once, at the flush's commit, on empty tables."""
    if reset_sequences or not tables:
        return _truncate_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    return ["SET CONSTRAINTS ALL DEFERRED"] + [f"DELETE FROM {style.SQL_FIELD(self.quote_name(t))}" for t in tables]


DatabaseOperations.sql_flush = _delete_flush


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path, request):
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    prefix = f"{_CACHE_PREFIX}-{worker}-{next(_counter)}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MEDIA_ROOT = tmp_path / "media"
    # The default PBKDF2 hasher spends ~0.5 s per user made; tests make many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Recording a security event never breaks a login in production; in tests a failure is raised.
    settings.SECURITY_LOG_STRICT = True
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    yield
    _drop_cache_keys(prefix)
    # A request in another language activates it for the thread (LocaleMiddleware never resets
    # it): later tests would see Chinese labels outside a request.
    from django.utils import translation

    translation.deactivate()
    # Celery marks "inside a task" in a process-wide flag while it runs one eagerly, restoring
    # the value it saw on entry: an eager task run by a browser test's live server thread while
    # the test's thread ran one too can leave it set, and every later `.get()` would refuse.
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


def _drop_cache_keys(prefix: str) -> None:
    """Leave nothing of this test in the shared Redis."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    for cache in caches.all(initialized_only=True):
        if isinstance(cache, RedisCache):
            client = cache._cache.get_client(write=True)
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)


def _bound(membership):
    return bind_org(membership.user, membership.org, membership)


@pytest.fixture
def admin_user(db):
    return _bound(do_sign_up(org_name="Acme", username="acme-admin", email="admin@acme.test", password=PASSWORD,
                             first_name="Alice", last_name="Admin"))


@pytest.fixture
def org(admin_user):
    return admin_user.org


@pytest.fixture
def make_user(db):
    """make_user(org, role="standard", username=None) -> a bound user; added by the org's first admin
    (or by `actor=` if given)."""

    def make(org, role="standard", username=None, actor=None):
        from access.models import Membership

        username = username or f"user{next(_counter)}"
        if actor is None:
            admin = Membership.objects.filter(org=org, role="admin", is_active=True).select_related("user").first()
            actor = _bound(admin)
        membership = do_add_user(org, username=username, email=f"{username}@example.test", password=PASSWORD,
                                 role=role, first_name=username.capitalize(), actor=actor)
        return _bound(membership)

    return make


@pytest.fixture
def standard_user(org, make_user):
    return make_user(org, username="sam")


@pytest.fixture
def other_user(org, make_user):
    return make_user(org, username="olga")


@pytest.fixture
def other_org_user(db):
    return _bound(do_sign_up(org_name="Globex", username="globex-admin", email="admin@globex.test",
                             password=PASSWORD, first_name="Gary", last_name="Globex"))


@pytest.fixture
def other_org(other_org_user):
    return other_org_user.org


@pytest.fixture
def client_for(db):
    """client_for(user) -> a test Client logged in as user."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def pytest_collection_modifyitems(items: list) -> None:
    """The long tests (the sweeps, then the browser stories) start first: the parallel workers
    then finish together instead of one of them waiting on a sweep that was dealt out last."""
    def weight(item) -> int:
        if "_sweep.py" in item.nodeid:
            return 0
        return 1 if item.nodeid.startswith("tests/e2e/") else 2

    items.sort(key=weight)


def pytest_terminal_summary(terminalreporter) -> None:
    """Name the screenshots the failing browser tests kept (tests/e2e/conftest.py), once more at
    the end; the reports carry them, also from the parallel workers."""
    kept = [line.split("screenshot: ", 1)[1]
            for report in terminalreporter.stats.get("failed", [])
            for name, content in getattr(report, "sections", []) if name == "e2e artifacts"
            for line in content.splitlines() if "screenshot: " in line]
    if kept:
        terminalreporter.section("browser failures kept")
        for path in kept:
            terminalreporter.line(path)
