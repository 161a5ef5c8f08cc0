"""Where a webhook may POST, and the POST itself (urllib: neither requests nor httpx is a
dependency of the project)."""
from __future__ import annotations

import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

RESPONSE_BYTES = 2048  # of each response body kept in the log


class AddressRefused(Exception):
    """The URL points at an address webhooks may not reach (the message says why)."""


def check_url(url: str) -> None:
    """Raise AddressRefused unless `url` is http(s) with a host whose every address is public.

    Private, loopback, link-local (cloud metadata at 169.254.169.254), shared and reserved
    addresses are refused by default: a rule written by an org administrator must not be a way
    to reach the database, Redis or other services inside the network (server-side request
    forgery). settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts this for development and tests.
    Checked when the rule is saved and again before every attempt (DNS may change between)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused(_("Only http:// and https:// URLs with a host can receive webhooks."))
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise AddressRefused(_("The host “%(host)s” cannot be found.") % {"host": parts.hostname})
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise AddressRefused(_("“%(host)s” is a private or local address; webhooks go to public addresses only.")
                                 % {"host": parts.hostname})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to an address check_url refuses: a 3xx is the answer, not followed."""

    def redirect_request(self, *args, **kwargs):
        return None


# No proxies from the environment either: the address checked must be the address reached.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


@dataclass
class Response:
    status: int | None  # None: no answer (network error, timeout, refused address)
    body: str
    error: str
    duration_ms: int


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST once with a short timeout; every outcome is a Response, never an exception."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url)
    except AddressRefused as exc:
        return Response(None, "", str(exc), elapsed())
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as answer:
            text = answer.read(RESPONSE_BYTES).decode("utf-8", "replace")
            return Response(answer.status, text, "", elapsed())
    except urllib.error.HTTPError as exc:  # an answer with a 3xx, 4xx or 5xx status
        text = exc.read(RESPONSE_BYTES).decode("utf-8", "replace") if exc.fp else ""
        return Response(exc.code, text, "", elapsed())
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, reset, timeout, bad URL
        reason = getattr(exc, "reason", exc)
        return Response(None, "", f"{type(reason).__name__}: {reason}"[:2000], elapsed())
