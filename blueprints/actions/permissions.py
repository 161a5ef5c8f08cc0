"""Who may configure a module's blueprints (their own module, so the transition actions and the
configuration actions both ask it without importing each other)."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from access.models import User

from ..models import Blueprint


def configurable(blueprint_or_org: Any, actor: User, module_key: str | None = None) -> Any:
    """The module's bound schema if the actor may configure it; PermissionDenied otherwise (the
    same for another org's blueprint)."""
    from automation.configure import configurable_schema

    if isinstance(blueprint_or_org, Blueprint):
        if getattr(actor, "org", None) is None or blueprint_or_org.org_id != actor.org.pk:
            raise PermissionDenied(_("Not found."))
        return configurable_schema(blueprint_or_org.org_id, blueprint_or_org.module, actor)
    return configurable_schema(blueprint_or_org, module_key or "", actor)
