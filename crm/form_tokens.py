"""One-time form tokens: a create form submitted twice creates one record.

Each create form carries a hidden `form_token` (a fresh uuid per rendering). The first POST
with a token claims it in the cache with `cache.add` (atomic in Redis, so of two simultaneous
submits exactly one wins); when the write succeeds the claim holds the URL of what was
created. A later POST with the same token creates nothing and lands on that URL. A submit
that fails (a form error, a refusal) releases its claim, so the corrected form can be sent
again with the same token.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

from django import forms
from django.core.cache import cache

FIELD = "form_token"
TTL_SECONDS = 24 * 60 * 60  # a back button and a resubmit a day later still land on the first result
PENDING = "pending"
WAIT_SECONDS = 5.0  # how long a second submit waits for the first one (still running) to finish


def new_token() -> str:
    return uuid.uuid4().hex


class FormTokenField(forms.CharField):
    """The hidden field; a fresh token each time an unbound form is rendered."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.HiddenInput)
        kwargs.setdefault("max_length", 64)
        super().__init__(initial=new_token, **kwargs)


def _valid(token: str) -> bool:
    try:
        uuid.UUID(token)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


class Claim:
    """The claim of one submit on its token. `repeat_url` is set when the token was used
    already: the caller creates nothing and redirects there."""

    def __init__(self, request: Any, token: str | None = None) -> None:
        token = request.POST.get(FIELD, "") if token is None else token
        self.key = None
        self.repeat_url: str | None = None
        if not _valid(token):
            return  # no token (an old page, a script): nothing to deduplicate against
        org_id = getattr(getattr(request, "org", None), "pk", None)
        self.key = f"form-token:{org_id}:{request.user.pk}:{uuid.UUID(token).hex}"
        if not cache.add(self.key, PENDING, TTL_SECONDS):
            self._wait_for_first()

    def _wait_for_first(self) -> None:
        """The first submit's result; while it is still running, wait a little for it."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            value = cache.get(self.key)
            if value is None:  # the first submit failed and released the token: this one may try
                if cache.add(self.key, PENDING, TTL_SECONDS):
                    return
                continue
            if value != PENDING:
                self.repeat_url = value
                return
            if time.monotonic() > deadline:
                self.repeat_url = ""  # still running: the caller shows its fallback page
                return
            time.sleep(0.05)

    @property
    def repeated(self) -> bool:
        return self.repeat_url is not None

    def landing(self, fallback: str) -> str:
        """Where a repeated submit goes: the first result, or `fallback` if it is not known yet."""
        return self.repeat_url or fallback

    def done(self, url: str) -> None:
        """The write succeeded: later submits with this token land on `url`."""
        if self.key is not None and not self.repeated:
            cache.set(self.key, url, TTL_SECONDS)

    def release(self) -> None:
        """The write did not happen: the token may be used again."""
        if self.key is not None and not self.repeated:
            cache.delete_many([self.key])  # a cache key, not a row: no action needed


def claim(request: Any) -> Claim:
    return Claim(request)
