"""Note actions: add, edit and delete a comment on a record."""
from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from access.models import User

from .. import timeline
from ..guards import WriteContext, run_guards
from ..models import Note
from .base import RecordValidationError, _event, _record_for, _require_member, bound_schema, record_refusals


MENTION_RE = re.compile(r"@([\w.+-]*[\w+-])")  # a trailing full stop ends the sentence, not the name


def _note_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise RecordValidationError({"body": [_("A note cannot be empty.")]})
    if len(body) > 10000:
        raise RecordValidationError({"body": [_("A note can be at most 10,000 characters.")]})
    return body


def _mentioned(body: str, org_id: int) -> list[User]:
    """The active members of the org named by @username in the text."""
    usernames = set(MENTION_RE.findall(body))
    if not usernames:
        return []
    return list(User.objects.filter(username__in=usernames, memberships__org_id=org_id,
                                    memberships__is_active=True).distinct())


@record_refusals
@transaction.atomic
def do_add_note(record: Any, body: str, *, actor: User, path: str = "page") -> Note:
    """Comment on a record; @username mentions of active members are stored for notification."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    body = _note_body(body)
    current = _record_for(schema, record, actor, "view")
    run_guards(WriteContext("add_note", schema, current, actor, path, {"body": body}))
    note = Note.objects.create(org_id=current.org_id, record=current, author=actor, body=body)
    mentioned = _mentioned(body, current.org_id)
    if mentioned:
        note.mentions.set(mentioned)
    # The body stays in the note (which has its own readers); the timeline records the event.
    timeline.write(current, kind="note_added", actor=actor, path=path, changes={"note": [None, note.pk]})
    # The mentioned users' ids ride on the event, so listeners (notifications) need not re-parse the text.
    _event("note_added", schema, current, actor, path,
           changes={"note": [None, note.pk], "mentions": [[], sorted(u.pk for u in mentioned)]})
    return note


@record_refusals
@transaction.atomic
def do_update_note(note: Note, body: str, *, actor: User, path: str = "page") -> Note:
    """Change a note's text: its author or an administrator, on a record they can see. Mentions
    follow the new text."""
    record = note.record
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    body = _note_body(body)
    current = _record_for(schema, record, actor, "view")
    stored = Note.objects.select_for_update().filter(org_id=current.org_id, pk=note.pk).first()
    if stored is None:
        raise PermissionDenied(_("Note not found."))
    # The guards include the note-author rule (crm.decisions), so pages offer what this allows.
    run_guards(WriteContext("update_note", schema, current, actor, path, {"note": stored}))
    if stored.body == body:
        return stored
    before = sorted(stored.mentions.values_list("pk", flat=True))
    stored.body = body
    stored.save(update_fields=["body"])
    mentioned = _mentioned(body, current.org_id)
    stored.mentions.set(mentioned)
    # As for a new note, the text stays in the note; the timeline records that it was edited.
    timeline.write(current, kind="note_edited", actor=actor, path=path, changes={"note": [stored.pk, stored.pk]})
    # Old and new mentions, so listeners can tell only the newly mentioned.
    _event("note_edited", schema, current, actor, path,
           changes={"note": [stored.pk, stored.pk], "mentions": [before, sorted(u.pk for u in mentioned)]})
    return stored


@record_refusals
@transaction.atomic
def do_delete_note(note: Note, *, actor: User, path: str = "page") -> None:
    record = note.record
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _record_for(schema, record, actor, "view")
    run_guards(WriteContext("delete_note", schema, current, actor, path, {"note": note}))
    timeline.write(current, kind="note_deleted", actor=actor, path=path, changes={"note": [note.pk, None]})
    note.delete()
    _event("note_deleted", schema, current, actor, path)
