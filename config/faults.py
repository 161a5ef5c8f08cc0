"""What a person sees when the server fails (docs/operations.md, "Faults").

`handler500` is Django's last resort for an exception no view or middleware answered. A lost
database (a restart, a network cut, too many connections) is not a bug: it is answered with a
503 and a sentence saying to try again, and the next request reconnects by itself
(`CONN_HEALTH_CHECKS`). A transaction cut off this way was rolled back by PostgreSQL, so
nothing of it was written. Any other exception is the plain 500 page. Neither page reads the
database.
"""
from __future__ import annotations

import sys

import psycopg
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.translation import gettext as _

# Django's wrapped errors, and the driver's own (the tenant seal binds on the raw connection).
DATABASE_LOST = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_lost(error: BaseException | None) -> bool:
    return isinstance(error, DATABASE_LOST)


def server_error(request: HttpRequest) -> HttpResponse:
    if database_lost(sys.exc_info()[1]):
        status = 503
        title = _("The service is briefly unavailable")
        reason = _("The database cannot be reached just now. Nothing was saved by this request; "
                   "please try again in a moment.")
    else:
        status = 500
        title = _("Something went wrong")
        reason = _("The server could not complete this request; the error has been logged. "
                   "Please try again, or tell your administrator if it happens again.")
    if request.headers.get("HX-Request") or not request.accepts("text/html"):
        response = HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    else:
        body = loader.get_template("unavailable.html").render({"title": title, "reason": reason, "status": status})
        response = HttpResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
