"""THE policy for showing a linked record (a lookup's value, a task's related record, an export's
lookup column): the name of a record of the user's org that is not in the recycle bin, whether
or not the user may open it; a link to it only when they may. A deleted record is never shown."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from .visibility import visible


@dataclass(frozen=True)
class Linked:
    name: str
    can_open: bool


def linked_names(org: Any, module: Any, ids: Iterable[Any]) -> dict[int, str]:
    """{id: name} of the given ids of `module` in `org` that are not deleted (one query)."""
    wanted = {int(pk) for pk in ids if pk not in (None, "")}
    if not wanted or org is None:
        return {}
    return {obj.pk: str(obj) for obj in module.base_queryset(org).filter(pk__in=wanted, deleted_at__isnull=True)}


def linked_records(user: Any, module: Any, ids: Iterable[Any]) -> dict[int, Linked]:
    """{id: Linked} for the given ids of `module` (two queries, whatever the number of ids)."""
    names = linked_names(getattr(user, "org", None), module, ids)
    openable = set(visible(user, module, "view").filter(pk__in=list(names)).values_list("pk", flat=True)) \
        if names else set()
    return {pk: Linked(name, pk in openable) for pk, name in names.items()}


def linked_record(user: Any, module: Any, pk: Any) -> Linked | None:
    return linked_records(user, module, [pk]).get(int(pk)) if pk not in (None, "") else None
