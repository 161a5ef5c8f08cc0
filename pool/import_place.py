"""Importing new leads or accounts straight into a customer pool: the pool is a place of the
import (`imports.placement`). Pool administrators (and organisation administrators) may choose
it; each new row passes the pool's door first (`pool.door.check_entry`, on the row's values,
before anything is written): a duplicate of a record waiting in the pool, or of an earlier row,
is refused with the door's reason, or, when the pool merges duplicates, becomes an update that
fills the waiting record's empty fields. The rows let in are created, moved into the pool
("imported") with their history and timeline entry, and linked to their look-alikes when the
pool links them."""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from .door import LINK, MERGE, REFUSE, check_entry
from .models import Pool, PoolMove
from .rules import POOL_MODULES
from .selectors import is_pool_admin, pools_for


def _pool(schema: Any, value: str) -> Pool | None:
    try:
        return Pool.objects.filter(org=schema.org, module=schema.key, pk=int(value)).first()
    except (TypeError, ValueError):
        return None


def choices(schema: Any, actor: Any) -> list[tuple[str, str]]:
    if schema.key not in POOL_MODULES:
        return []
    return [(str(pool.pk), _("into the customer pool “%(pool)s” (no owner)") % {"pool": pool.name})
            for pool in pools_for(actor, schema.key) if is_pool_admin(actor, pool)]


def check(schema: Any, rows: list[dict[str, Any]], value: str, actor: Any) -> list[Any]:
    """Per row: None (it enters), the door's refusal, or the waiting record to fill instead."""
    pool = _pool(schema, value)
    if pool is None or not is_pool_admin(actor, pool):
        return [_("The pool chosen for the new records is gone or no longer yours to fill.")] * len(rows)
    answers: list[Any] = []
    for verdict in check_entry(schema, rows, pool, actor):
        if verdict.outcome == REFUSE and verdict.matches and not verdict.matches[0].waiting:
            match = verdict.matches[0]  # an earlier row of the file, not a record in the pool
            answers.append(_("Row %(row)d is the same customer as row %(other)d (same %(field)s): keep one of them.")
                           % {"row": rows[verdict.index].get("_row", verdict.index + 1),
                              "other": rows[match.index].get("_row", match.index + 1),
                              "field": ", ".join(str(schema.field(key).label) for key in match.fields)})
        elif verdict.outcome == REFUSE:
            answers.append(verdict.reason)
        elif verdict.outcome == MERGE and verdict.into is not None:
            answers.append(verdict.into)  # the row fills the waiting record's empty fields
        elif verdict.outcome == MERGE:  # into an earlier row of this file: that row is enough
            answers.append(_("An earlier row of this file is the same customer; that row goes into the pool."))
        else:
            answers.append(None)
    return answers


def place(schema: Any, records: list[Any], value: str, actor: Any, path: str) -> None:
    """Move the new records into the pool, in the import's transaction."""
    from .actions import enter_new_records
    from .door_actions import record_links

    pool = _pool(schema, value)
    links = [v for v in check_entry(schema, records, pool, actor) if v.outcome == LINK]
    enter_new_records(schema, records, pool, actor=actor, path=path)
    if links:
        record_links(schema, pool, links, actor=actor, path=path)

