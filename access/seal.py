"""The tenant seal: which organisation the database lets this connection see (docs/security.md).

Every table of an organisation's data carries a FORCEd row-level security policy
(`access.seal_policies`) that shows and accepts only rows of the organisation bound here, in
the connection's settings `app.org_id` (and `app.user_id`, for a user's own memberships in
other organisations). With nothing bound, those tables are empty.

Django runs in autocommit, so a `SET LOCAL` would last one statement: the binding is a
session setting, written by `set_config(..., false)` when a binding starts and written back to
what it was (normally nothing) when it ends, in a `finally`. The middleware binds around a
request, the Celery task class around a task; nested bindings restore the outer one.

The ways out, for the few paths that legitimately cross organisations, are `cross_org(reason)`
(every organisation, for a short block: grep for it) and `each_org()` (beat sweeps, bound to
one organisation after the other). Operator connections (`DATABASE_AS_OWNER`) start crossed.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver


@dataclass(frozen=True)
class Binding:
    org_id: int | None = None
    user_id: int | None = None
    cross: bool = False

    def values(self) -> tuple[str, str, str]:
        return (str(self.org_id or ""), str(self.user_id or ""), "on" if self.cross else "")


NOTHING = Binding()
_binding: contextvars.ContextVar[Binding] = contextvars.ContextVar("seal_binding", default=NOTHING)
# Statements this process sent to bind or unbind (a test pins how many a request costs).
statements_sent = 0

_SQL = ("SELECT set_config('app.org_id', %s, false), set_config('app.user_id', %s, false), "
        "set_config('app.cross_org', %s, false)")


def current() -> Binding:
    return _binding.get()


def current_org_id() -> int | None:
    return _binding.get().org_id


def _owner_connection() -> bool:
    return bool(getattr(settings, "DATABASE_AS_OWNER", False))


def _base() -> Binding:
    """What a connection holds with nothing bound: nothing, or every org for operators."""
    return Binding(cross=True) if _owner_connection() else NOTHING


def _apply(binding: Binding, restoring: bool = False) -> None:
    """Write the binding into the connection's settings, unless it holds it already. Sent on
    the driver's connection: a constant two statements per request or task, not part of the
    page query budgets (which count what grows with the rows shown)."""
    global statements_sent
    if connection.connection is None:
        return  # not connected yet: connection_created applies the binding
    if getattr(connection, "_seal_applied", None) == binding:
        return
    raw = connection.connection
    if restoring and (raw.closed or raw.broken):
        # The connection died in the block (a database restart): Django replaces it, and a new
        # one starts with nothing bound. Raising here would hide the error that ended the block.
        connection._seal_applied = None
        return
    from psycopg import pq

    if restoring and raw.info.transaction_status == pq.TransactionStatus.INERROR:
        # A failed transaction (begun outside this binding, which is inside it): its rollback
        # returns the settings to what they were when it (or its savepoint) began, which is the
        # outer binding this restore wanted.
        connection._seal_applied = binding
        return
    try:
        raw.execute(_SQL, binding.values())
    except Exception:
        connection.errors_occurred = True  # lets Django close it at the request's end if it is gone
        raise
    statements_sent += 1
    connection._seal_applied = binding


@receiver(connection_created)
def _on_connect(sender, connection, **kwargs) -> None:  # noqa: ARG001
    global statements_sent
    connection._seal_active = None
    connection._seal_applied = NOTHING  # a new session holds nothing
    wanted = _binding.get()
    if wanted == NOTHING:
        wanted = _base()
    if wanted != NOTHING:
        connection.connection.execute(_SQL, wanted.values())
        statements_sent += 1
        connection._seal_applied = wanted


@contextlib.contextmanager
def _binding_of(binding: Binding) -> Iterator[Binding]:
    token = _binding.set(binding)
    try:
        # A kept connection that died meanwhile (a database restart) is replaced here, before
        # the binding uses the driver's connection directly (Django checks it only for a cursor).
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        _apply(binding)
        yield binding
    finally:
        _binding.reset(token)
        outer = _binding.get()
        _apply(outer if outer != NOTHING else _base(), restoring=True)


def bound(org_id: int | None, user_id: int | None = None) -> contextlib.AbstractContextManager[Binding]:
    """Bind one organisation (and the acting user) for the block; None binds nothing."""
    return _binding_of(Binding(org_id=int(org_id) if org_id else None, user_id=int(user_id) if user_id else None))


def unbound() -> contextlib.AbstractContextManager[Binding]:
    """Nothing bound for the block: organisation tables are empty."""
    return _binding_of(NOTHING)


def cross_org(reason: str) -> contextlib.AbstractContextManager[Binding]:
    """THE way out of the seal: every organisation's rows for the block. `reason` says which
    legitimately cross-organisation path this is (an operator's script, a bench's fixtures)."""
    if not reason:
        raise ValueError("cross_org needs a reason")
    return _binding_of(Binding(cross=True))


def rebind(org_id: int | None, user_id: int | None = None) -> None:
    """Change the organisation of the binding in force (the middleware, once it has found the
    membership); restored with it at the end of its block."""
    binding = Binding(org_id=int(org_id) if org_id else None, user_id=int(user_id) if user_id else None)
    _binding.set(binding)
    _apply(binding)


def sealed() -> bool:
    """Whether the seal applies to this connection's role (not to a superuser or BYPASSRLS role)."""
    connection.ensure_connection()
    if getattr(connection, "_seal_active", None) is None:  # once per connection, on the driver's
        row = connection.connection.execute("SELECT row_security_active('access_membership')").fetchone()
        connection._seal_active = bool(row[0])
    return connection._seal_active


def each_org() -> Iterator[int | None]:
    """For beat sweeps over every organisation: yields each organisation's id with that
    organisation bound (the organisation table itself is not sealed), so the work a sweep finds
    and the tasks it queues are that organisation's. Where the seal does not apply (an owner
    that bypasses row security), one pass over everything, bound to nothing (yields None)."""
    from .models import Organization

    if not sealed():
        yield None
        return
    for org_id in list(Organization.objects.order_by("pk").values_list("pk", flat=True)):
        with bound(org_id):
            yield org_id


def sealed_stream(content, org_id: int, user_id: int | None = None) -> Iterator:
    """A streamed response's body, read with its request's organisation bound."""
    with bound(org_id, user_id):
        yield from content
