"""Where a request comes from, as the security records keep it: the client's address (as django-axes
reads it, so a lockout and the log name the same address) and its browser, cut to fit."""
from __future__ import annotations

import ipaddress
from typing import Any

from axes.helpers import get_client_ip_address

from .models import USER_AGENT_MAX, USERNAME_MAX


def client_ip(request: Any) -> str | None:
    """REMOTE_ADDR, or what AXES_CLIENT_IP_CALLABLE says behind a proxy; None when there is no
    request or no valid address (a test client's force_login)."""
    if request is None or not hasattr(request, "META"):
        return None
    value = get_client_ip_address(request)
    try:
        return str(ipaddress.ip_address(str(value).strip())) if value else None
    except ValueError:
        return None


def clean_text(value: Any, limit: int) -> str:
    """Printable text of at most `limit` characters (PostgreSQL text holds no NUL)."""
    return str(value or "").replace("\x00", "")[:limit]


def user_agent(request: Any) -> str:
    if request is None or not hasattr(request, "META"):
        return ""
    return clean_text(request.META.get("HTTP_USER_AGENT"), USER_AGENT_MAX)


def username_tried(credentials: dict | None) -> str:
    """The name a failed login tried: the username, or the e-mail address of an e-mail login."""
    credentials = credentials or {}
    for key in ("username", "login", "email"):
        if credentials.get(key):
            return clean_text(credentials[key], USERNAME_MAX)
    return ""
