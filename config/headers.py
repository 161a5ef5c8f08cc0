"""Response headers every page carries (docs/security.md).

The Content Security Policy itself comes from django-csp (settings.CONTENT_SECURITY_POLICY);
these two small middlewares add what it does not:

* `PermissionsPolicyMiddleware`: a Permissions-Policy header switching off the browser features
  the CRM never uses (camera, microphone, geolocation, payment, ...), so a script that got onto a
  page anyway could not reach them.
* `NoStoreMiddleware`: a page shown to a logged-in user holds tenant data, so unless the view set
  its own Cache-Control it is sent with `no-store`: neither a shared proxy nor the browser's back
  button after logout keeps a copy. Anonymous pages (the login page) and static files keep their
  caching; file downloads (streamed responses) keep the headers their views give them.
"""
from __future__ import annotations

from typing import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """`{"camera": [], "fullscreen": ["self"]}` -> 'camera=(), fullscreen=(self)'."""
    return ", ".join(f"{feature}=({' '.join(origins)})" for feature, origins in policy.items())


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.header = permissions_policy_header(getattr(settings, "PERMISSIONS_POLICY", {}))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.header
        return response


class NoStoreMiddleware:
    """Cache-Control: no-store on responses to logged-in users that set no caching of their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and not response.streaming
                and not response.has_header("Cache-Control")):
            response["Cache-Control"] = "private, no-store"
        return response
