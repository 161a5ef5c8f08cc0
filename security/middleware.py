"""Keeps the index of who is signed in where right when a logged-in session gets a new key
(Django cycles the key when a person changes their password and stays logged in)."""
from __future__ import annotations

from typing import Any, Callable

from .actions import do_rekey_session
from .events import never_breaking


class SessionIndexMiddleware:
    """After SessionMiddleware and AuthenticationMiddleware. Reading the key costs nothing (it
    comes from the cookie); only a changed key of a logged-in user writes."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        session = getattr(request, "session", None)
        before = getattr(session, "session_key", None)
        response = self.get_response(request)
        after = getattr(session, "session_key", None)
        if before and after and before != after:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                with never_breaking("a session's new key"):
                    do_rekey_session(user, before, after)
        return response
