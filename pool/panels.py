"""The pools on a record's page: a badge with the claim / release controls under the title, and
the record's pool history beside its fields. What the user may do is the decision point's answer."""
from __future__ import annotations

from typing import Any

from access.decisions import decide

from .rules import POOL_MODULES, in_pool
from .models import Pool
from .selectors import history, pool_facts, state_of


def _no_pools(user: Any, schema: Any) -> bool:
    """An org without pools of the module pays nothing on record pages (the facts are cached)."""
    return schema.key not in POOL_MODULES or schema.key not in pool_facts(user)


def header_panel(user: Any, schema: Any, record: Any) -> list[dict]:
    if _no_pools(user, schema):
        return []
    waiting = in_pool(record)
    panel: dict[str, Any] = {"template": "pool/includes/header_panel.html", "waiting": waiting,
                             "module_key": schema.key, "record": record}
    if waiting:
        panel["state"] = state_of(record.org_id, schema.key, record.pk)
        panel["claim"] = decide(user, record, "claim", schema=schema)
        panel["assign"] = decide(user, record, "assign", schema=schema)
    else:
        release = decide(user, record, "release", schema=schema)
        if not release.offered:
            return []
        panel["release"] = release
        panel["pools"] = list(Pool.objects.filter(org=user.org, module=schema.key).order_by("name", "pk"))
    return [panel]


def history_panel(user: Any, schema: Any, record: Any) -> list[dict]:
    if _no_pools(user, schema):
        return []
    moves = history(record.org_id, schema.key, record.pk)
    if not moves:
        return []
    return [{"template": "pool/includes/history_panel.html", "moves": moves}]


def on_deactivation(org: Any, user: Any, actor: Any) -> None:
    from .actions import do_release_on_deactivation

    do_release_on_deactivation(org, user, actor=actor)
