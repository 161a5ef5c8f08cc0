"""Kinds of rules that act on records (assignment, workflow): their models, so the timeline can
name the rule behind a change ("by rule “Round robin”") and the execution log can link to it."""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

RULE_PREFIX = "rule:"
_models: dict[str, Any] = {}


def register_rule_kind(kind: str, model: Any) -> None:
    """`model` has `org`, `name` (or `__str__`)."""
    _models[kind] = model


def rule_model(kind: str) -> Any:
    return _models.get(kind)


def path_labels(org_id: int, paths: set[str]) -> dict[str, str]:
    """Timeline paths "rule:<kind>:<id>" -> "by rule “name”" (one query per kind on the page)."""
    wanted: dict[str, dict[int, str]] = {}
    for path in paths:
        parts = path.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        wanted.setdefault(parts[1], {})[int(parts[2])] = path
    labels: dict[str, str] = {}
    for kind, by_id in wanted.items():
        model = _models.get(kind)
        if model is None:
            continue
        for rule in model.objects.filter(org_id=org_id, pk__in=list(by_id)):
            labels[by_id[rule.pk]] = _("by rule “%(name)s”") % {"name": rule}
        for rule_id, path in by_id.items():
            labels.setdefault(path, _("by a rule (since deleted)"))
    return labels
