"""Timeline entries, written by actions only: one per logical change."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from django.contrib.contenttypes.models import ContentType

from .context import request_id_var
from .models import TimelineEntry


def actor_name(actor: Any) -> str:
    return str(actor) if actor is not None else ""


def entry(record: Any, *, kind: str, actor: Any, path: str, changes: dict | None = None) -> TimelineEntry:
    """An unsaved entry (so batches can bulk_create)."""
    return TimelineEntry(**entry_values(record, kind=kind, actor=actor, path=path, changes=changes))


def entry_values(record: Any, *, kind: str, actor: Any, path: str, changes: dict | None = None,
                 record_type_id: int | None = None) -> dict[str, Any]:
    """An entry as plain values, for `write_values` (a batch action's thousands of entries; it
    passes the records' content type id, the same for all)."""
    if record_type_id is None:
        record_type_id = ContentType.objects.get_for_model(record).pk
    return {"org_id": record.org_id, "record_type_id": record_type_id,
            "record_id": record.pk, "actor_id": getattr(actor, "pk", None), "actor_name": actor_name(actor),
            "path": path, "kind": kind, "changes": changes or {}, "request_id": request_id_var.get()}


def write(record: Any, *, kind: str, actor: Any, path: str, changes: dict | None = None) -> TimelineEntry:
    item = entry(record, kind=kind, actor=actor, path=path, changes=changes)
    item.save()
    return item


def write_many(entries: Iterable[TimelineEntry]) -> None:
    from .actions.bulk import copy_insert

    copy_insert(TimelineEntry, list(entries))


def write_values(entries: list[dict[str, Any]]) -> None:
    """Write entries given as `entry_values` (by COPY when there are many)."""
    from .actions.bulk import copy_values

    copy_values(TimelineEntry, entries)


def for_record(record: Any):
    return (TimelineEntry.objects.filter(org_id=record.org_id, record_type=ContentType.objects.get_for_model(record),
                                         record_id=record.pk)
            .select_related("actor").order_by("-at", "-pk"))


NOTE_KINDS = ("note_added", "note_edited", "note_deleted")
ATTACHMENT_KINDS = ("attachment_added", "attachment_deleted")
FIELD_KINDS = ("updated",)


def _ids(entries: list[TimelineEntry], key: str) -> set[int]:
    ids = set()
    for item in entries:
        for value in item.changes.get(key) or []:
            if isinstance(value, int):
                ids.add(value)
    return ids


def for_viewer(record: Any, user: Any, module: Any, fields: Iterable[Any], limit: int = 100) -> list[TimelineEntry]:
    """The record's latest entries that are about what `user` may see: a note's entries only for
    notes they may read, a file's only for files they may see, field changes only when a field
    they may see changed. `module` answers which notes and files are theirs (`notes_for`,
    `attachments_for`); `fields` are the specs they may see. A fixed number of queries."""
    from crm.templatetags.crm_tags import EXTRA_LABELS

    from .models import Attachment, Note

    # Some entries are left out, so read ahead to still fill the page.
    entries = list(for_record(record)[:limit * 3])
    record_type = ContentType.objects.get_for_model(record)
    attached = {"org_id": record.org_id, "record_type": record_type, "record_id": record.pk}
    readable_notes: set[int] = set()
    note_ids = _ids([e for e in entries if e.kind in NOTE_KINDS], "note")
    if note_ids:
        readable_notes = set(module.notes_for(Note.objects.filter(pk__in=note_ids, **attached), user)
                             .values_list("pk", flat=True))
    files = [e for e in entries if e.kind in ATTACHMENT_KINDS]
    seen_ids: set[int] = set()
    seen_names: set[str] = set()
    if files:
        for pk, name in module.attachments_for(Attachment.objects.filter(**attached), user).values_list("pk", "name"):
            seen_ids.add(pk)
            seen_names.add(name)
    all_notes, all_files = module.reads_all_notes(user), module.sees_all_attachments(user)
    field_keys = {spec.key for spec in fields} | set(EXTRA_LABELS)

    def shown(item: TimelineEntry) -> bool:
        if item.kind in NOTE_KINDS:
            if all_notes or item.actor_id == user.pk:
                return True
            # A deleted note is gone, so whether it was theirs to read is not known: left out.
            return bool(_ids([item], "note") & readable_notes) and item.kind != "note_deleted"
        if item.kind in ATTACHMENT_KINDS:
            if all_files or item.actor_id == user.pk:
                return True
            if item.kind == "attachment_deleted":
                return False
            if item.changes.get("attachment"):
                return bool(_ids([item], "attachment") & seen_ids)
            return (item.changes.get("file") or [None, None])[-1] in seen_names  # entries from before ids
        if item.kind in FIELD_KINDS:
            return any(key in field_keys for key in item.changes)
        return True

    result = [item for item in entries if shown(item)][:limit]
    label_paths(record.org_id, result)
    _mask_changes(record, result, fields)
    return result


def _mask_changes(record: Any, entries: list[TimelineEntry], fields: Iterable[Any]) -> None:
    """A field masked on the record for this viewer (a pool's) is masked in its history too."""
    from access.masking import MASKED_ATTR, masked_text

    masked = getattr(record, MASKED_ATTR, None)
    if not masked:
        return
    styles = {spec.key: {"phone": "phone", "email": "email"}.get(spec.type, "text") for spec in fields}
    for item in entries:
        keys = masked & set(item.changes)
        if keys:
            item.changes = dict(item.changes)  # in memory only: entries are never saved here
            for key in keys:
                pair = item.changes[key]
                style = styles.get(key, "text")
                item.changes[key] = ([masked_text(style, v) if isinstance(v, str) else v for v in pair]
                                     if isinstance(pair, list) else masked_text(style, pair))


# Paths such as "rule:workflow:12" are named by the app that owns them (automation names its
# rules): a resolver per prefix, given every such path of a page at once.
PathLabels = Callable[[int, set[str]], dict[str, str]]
_path_labels: dict[str, PathLabels] = {}


def register_path_labels(prefix: str, resolver: PathLabels) -> None:
    _path_labels[prefix] = resolver


def label_paths(org_id: int, entries: list[TimelineEntry]) -> None:
    """Set `path_label` on entries whose path a registered resolver names."""
    for prefix, resolver in _path_labels.items():
        paths = {item.path for item in entries if item.path.startswith(prefix)}
        if not paths:
            continue
        labels = resolver(org_id, paths)
        for item in entries:
            if item.path in labels:
                item.path_label = labels[item.path]


def write_share_entry(kind: str, record: Any, actor: Any, details: dict) -> None:
    """A share given or removed (called by access's share actions, inside their transaction):
    who it is shared with and at which level, on the record's timeline."""
    target = details.get("user") or details.get("group") or {}
    changes = {"shared_with": [None, target], "access": [None, details.get("access", "")]}
    if kind == "unshared":
        changes = {"shared_with": [target, None], "access": [details.get("access", ""), None]}
    write(record, kind=kind, actor=actor, path="page", changes=changes)
