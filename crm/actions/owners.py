"""Owner actions: change a record's owner, many records' owner at once, and reassign a user's records."""
from __future__ import annotations

from typing import Any, Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Membership, User
from access.visibility import is_org_admin, visible

from .. import timeline
from ..events import RecordEvent, emit_many
from ..criteria import CriteriaError, to_q
from ..guards import WriteContext, run_after_write, run_guards
from ..schema import BoundSchema
from .base import (RecordValidationError, _owner_json, _require_member, bound_schema, check_version,
                   record_refusals)


def _active_member(schema: BoundSchema, user_id: Any) -> User:
    membership = Membership.objects.select_related("user").filter(
        org=schema.org, user_id=user_id, is_active=True).first()
    if membership is None:
        raise RecordValidationError({"owner": [_("Choose an active user of this organisation.")]})
    return membership.user


def do_change_owner(record: Any, new_owner_id: int, *, version: int, actor: User, path: str = "page") -> Any:
    """Hand a record to another active user (who then owns it). `version` as for do_update_record."""
    return do_bulk_change_owner(record, {record.pk: version}, new_owner_id, actor=actor, path=path)[0]


@record_refusals
@transaction.atomic
def do_bulk_change_owner(module: Any, versions: dict[int, int], new_owner_id: int, *, actor: User,
                         path: str = "page") -> list[Any]:
    """Change the owner of many records, given as {pk: the version the user saw}, at once: all
    or nothing, one timeline entry each. A record changed since is refused as a conflict."""
    versions = {int(pk): version for pk, version in versions.items()}
    record_ids = list(versions)
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    new_owner = _active_member(schema, new_owner_id)
    ids = sorted({int(pk) for pk in record_ids})
    rows = list(visible(actor, schema, "edit").select_for_update(of=("self",))
                .select_related("owner").filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(ids):
        raise PermissionDenied(_("%(count)d of the chosen records cannot be changed by you; nothing was changed.")
                               % {"count": len(ids) - len(rows)})
    moving = [row for row in rows if row.owner_id != new_owner.pk]
    for row in moving:
        run_guards(WriteContext("change_owner", schema, row, actor, path, {"owner": new_owner.pk}))
    # After every guard: a refusal is reported as such even when some copy is stale.
    for row in rows:
        check_version(row, versions.get(row.pk), named=len(rows) > 1)
    changed, entries = [], []
    for row in moving:
        changes = {"owner": [_owner_json(row.owner), _owner_json(new_owner)]}
        row.owner = new_owner
        row.version += 1
        row.modified_by = actor
        row.modified_at = timezone.now()
        changed.append(row)
        entries.append((row, changes))
    if changed:
        schema.model.objects.bulk_update(changed, ["owner", "version", "modified_by", "modified_at"], batch_size=500)
        timeline.write_many(timeline.entry(row, kind="owner_changed", actor=actor, path=path, changes=changes)
                            for row, changes in entries)
        for row in changed:
            run_after_write(WriteContext("change_owner", schema, row, actor, path, {"owner": new_owner.pk}), row)
        emit_many([RecordEvent(kind="owner_changed", module=schema.key, org_id=row.org_id, record_id=row.pk,
                               actor_id=actor.pk, path=path, changes={"owner": [c and c["id"] for c in changes["owner"]]})
                   for row, changes in entries])
    return rows


@record_refusals
@transaction.atomic
def do_reassign_records(from_user: User, new_owner_id: int, *, modules: Iterable[Any], actor: User,
                        criteria: dict | None = None, path: str = "page") -> dict[str, int]:
    """An administrator hands the records a user owns in the given modules (with `criteria`, one
    module's matching records) to another active member. One transaction over every module: if
    any record is refused, none moves. Returns how many records moved, by module key."""
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an administrator may reassign another user's records."))
    schemas = [bound_schema(module, actor.org) for module in modules]
    if int(new_owner_id) == from_user.pk:
        raise RecordValidationError({"owner": [_("Choose someone other than the current owner.")]})
    if criteria is not None and len(schemas) != 1:
        raise RecordValidationError({"criteria": [_("Choose a module to filter by criteria.")]})
    moved: dict[str, int] = {}
    for schema in schemas:
        rows = visible(actor, schema, "edit").filter(owner=from_user)
        if criteria is not None:
            try:
                rows = rows.filter(to_q(criteria, schema))
            except CriteriaError as exc:
                raise RecordValidationError({"criteria": exc.messages})
        # The rows are locked here, so the versions read are the ones the change will see.
        versions = dict(rows.select_for_update(of=("self",)).order_by("pk").values_list("pk", "version"))
        moved[schema.key] = (len(do_bulk_change_owner(schema, versions, new_owner_id, actor=actor, path=path))
                             if versions else 0)
    return moved
