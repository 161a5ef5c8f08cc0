"""Request input checked once, before any view: size caps, NUL characters, bad parameters.

NUL: PostgreSQL cannot store U+0000 in text, and no person types one, so a request carrying
it in a query parameter, a form field (name or value), an uploaded file's name or a JSON body
is refused with a 400 naming the parameter, rather than stripped: stripping would silently
save something other than what was sent, and refusing writes nothing.

Size: Django's DATA_UPLOAD_MAX_MEMORY_SIZE / DATA_UPLOAD_MAX_NUMBER_FIELDS refuse a huge
form body while it is read; REQUEST_MAX_BYTES refuses a body (uploads included) from its
Content-Length before it is read at all. Both answer 413 with a sentence, not a bare error.

`config.params.BadParameter` raised by a view (an id that is not one) becomes a 400 too.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from .params import BadParameter, json_shape_problem

JSON_TYPES = ("application/json", "application/merge-patch+json")


def refuse(request: HttpRequest, reason: str, status: int = 400) -> HttpResponse:
    """The app's page for a request it cannot use, with the reason and a way back."""
    if request.headers.get("HX-Request") or not request.accepts("text/html"):
        return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    return render(request, "400.html", {"reason": reason, "status": status}, status=status)


def _nul_in(name: str, values: list[Any]) -> str | None:
    if "\x00" in name:
        return name.replace("\x00", "\\0")
    if any("\x00" in str(value) for value in values):
        return name
    return None


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = self.problem(request)
        if problem is not None:
            return refuse(request, *problem)
        return self.get_response(request)

    def problem(self, request: HttpRequest) -> tuple[str, int] | None:
        """(reason, status) for a request the app will not read further, or None."""
        limit = getattr(settings, "REQUEST_MAX_BYTES", None)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit and length > limit:
            return _too_big(limit), 413
        try:
            for name, values in request.GET.lists():
                if bad := _nul_in(name, values):
                    return _nul(bad), 400
            if request.method in ("POST", "PUT", "PATCH") and request.content_type in JSON_TYPES:
                return self.json_problem(request)
            if request.method == "POST":
                for name, values in request.POST.lists():
                    if bad := _nul_in(name, values):
                        return _nul(bad), 400
                for name, files in request.FILES.lists():
                    if bad := _nul_in(name, [f.name for f in files]):
                        return _nul(bad), 400
        except RequestDataTooBig:
            return _form_too_big(), 413
        except TooManyFieldsSent:
            return _("The form sends too many fields (at most %(count)d).") % {
                "count": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}, 413
        return None

    def json_problem(self, request: HttpRequest) -> tuple[str, int] | None:
        try:
            value = json.loads(request.body)
        except RecursionError:
            return _("The JSON body is nested too deeply."), 400
        except ValueError:
            return None  # not JSON at all: the view says so in its own words
        problem = json_shape_problem(value, max_depth=64, max_items=100_000)
        if problem:
            return _("The JSON body cannot be used: %(problem)s") % {"problem": problem}, 400
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BadParameter):
            return refuse(request, exception.message)
        if isinstance(exception, RequestDataTooBig):
            return refuse(request, _form_too_big(), 413)
        return None


def _nul(name: str) -> str:
    return _("The parameter “%(name)s” contains a NUL character (\\0), which cannot be stored. "
             "Remove it and try again.") % {"name": name[:100]}


def _form_too_big() -> str:
    return _("The form is too large: at most %(size)s of text can be sent at once.") % {
        "size": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}


def _too_big(limit: int) -> str:
    return _("The request is too large: at most %(size)s can be sent at once (files up to %(file)s).") % {
        "size": filesizeformat(limit), "file": filesizeformat(settings.ATTACHMENT_MAX_BYTES)}
