"""The enforcement matrix: each restricted action x each write path that exists x a user the
rule locks the record for (profile "Sales rep") vs a user it exempts (profile "Standard").

A refused write changes nothing and leaves a "refused" timeline entry naming the rule; an
exempt user's write goes through. A rule restricting one action lets every other through.
Where a lock leaves some fields editable, the edit page shows the others disabled: what is
posted for them is ignored (nothing to refuse), the rest of the form is saved.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions
from crm.models import Attachment, Deal, Note, TimelineEntry
from locking.models import RESTRICTED_ACTIONS, RecordLock
from locking.state import restricted_action
from tests.factories import DealFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def _file(name="contract.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4 test", content_type="application/pdf")


def _notes(deal):
    return Note.objects.filter(record_type=ContentType.objects.get_for_model(Deal), record_id=deal.pk)


def _files(deal):
    return Attachment.objects.filter(record_type=ContentType.objects.get_for_model(Deal), record_id=deal.pk)


def _deal(deal):
    return Deal.objects.get(pk=deal.pk)


@dataclass
class World:
    deal: Any
    actor: Any
    admin: Any
    client_for: Callable
    note: Any = None
    attachment: Any = None

    @property
    def client(self):
        return self.client_for(self.actor)


@dataclass
class Path:
    restricted: str
    name: str
    attempt: Callable[[World], Any]
    changed: Callable[[World], bool]
    setup: Callable[[World], None] = lambda world: None
    needs: str = ""  # the action `setup` itself performs
    editable: tuple[str, ...] = ()  # fields the rule leaves editable while locked
    # For a field shown disabled rather than refused: the page shows it disabled with the reason.
    shown_disabled: Callable[[World], bool] | None = None

    def __str__(self) -> str:
        return f"{self.restricted}:{self.name}"


def _update(path):
    return lambda w: actions.do_update_record(w.deal, {"amount": "5"}, version=version_of(w.deal), actor=w.actor, path=path)


def _amount_changed(w):
    return _deal(w.deal).amount is not None


def _add_note(w):
    w.note = actions.do_add_note(w.deal, "Kept for later", actor=w.actor)


def _add_file(w):
    w.attachment = actions.do_add_attachment(w.deal, _file(), actor=w.actor)


def _edit_page(w):
    return w.client.post(reverse("crm:edit", args=["deals", w.deal.pk]),
                         {"name": w.deal.name, "stage": "won", "amount": "5", "version": _deal(w.deal).version})


def _edit_page_partly_locked(w):
    """The rule leaves the close date editable: the amount is disabled, the close date is saved."""
    stored = _deal(w.deal)
    return w.client.post(reverse("crm:edit", args=["deals", w.deal.pk]),
                         {"name": stored.name, "stage": "won", "amount": "5", "close_date": "2031-01-31",
                          "version": stored.version})


def _amount_disabled_on_the_edit_page(w):
    page = w.client.get(reverse("crm:edit", args=["deals", w.deal.pk])).content.decode()
    stored = _deal(w.deal)
    return (re.search(r'<input [^>]*name="amount"[^>]*disabled', page) is not None
            and "Locked by rule: Closed deals" in page and str(stored.close_date) == "2031-01-31")


def _inline(w):
    return w.client.post(reverse("crm:field", args=["deals", w.deal.pk, "amount"]),
                         {"amount": "5", "version": _deal(w.deal).version}, HTTP_HX_REQUEST="true")


def _note_text(w):
    return _notes(w.deal).get().body


def _chosen(w) -> dict[int, int]:
    """The deal with the version a list page would show now."""
    return {w.deal.pk: _deal(w.deal).version}


def _chosen_value(w) -> str:
    return f"{w.deal.pk}:{_deal(w.deal).version}"


def _kanban(w):
    return w.client.post(reverse("crm:kanban_move", args=["deals", w.deal.pk]),
                         {"field": "stage", "value": "lost", "version": _deal(w.deal).version})


PATHS = [
    Path("edit", "action page", _update("page"), _amount_changed),
    Path("edit", "action api", _update("api"), _amount_changed),
    Path("edit", "action workflow rule", _update("rule:7"), _amount_changed),
    Path("edit", "edit page POST", _edit_page, _amount_changed),
    Path("edit", "edit page POST with a field the lock keeps read-only", _edit_page_partly_locked, _amount_changed,
         editable=("close_date",), shown_disabled=_amount_disabled_on_the_edit_page),
    Path("edit", "inline edit POST", _inline, _amount_changed),
    Path("edit", "kanban move", _kanban, lambda w: _deal(w.deal).stage == "lost"),
    Path("bulk_edit", "action update by bulk path", _update("bulk"), _amount_changed),
    Path("bulk_edit", "bulk edit action",
         lambda w: actions.do_bulk_edit_records("deals", _chosen(w), {"amount": "5"}, actor=w.actor),
         _amount_changed),
    Path("bulk_edit", "bulk edit page POST",
         lambda w: w.client.post(reverse("crm:bulk_edit", args=["deals"]),
                                 {"field": "amount", "value": "5", "ids": [_chosen_value(w)]}),
         _amount_changed),
    Path("import_update", "action import", _update("import"), _amount_changed),
    Path("delete", "action", lambda w: actions.do_delete_record(w.deal, version=version_of(w.deal), actor=w.actor),
         lambda w: _deal(w.deal).deleted_at is not None),
    Path("delete", "delete page POST", lambda w: w.client.post(reverse("crm:delete", args=["deals", w.deal.pk]),
                                                               {"version": _deal(w.deal).version}),
         lambda w: _deal(w.deal).deleted_at is not None),
    Path("change_owner", "action",
         lambda w: actions.do_change_owner(w.deal, w.admin.pk, version=version_of(w.deal), actor=w.actor),
         lambda w: _deal(w.deal).owner_id == w.admin.pk),
    Path("change_owner", "bulk action", lambda w: actions.do_bulk_change_owner("deals", _chosen(w), w.admin.pk,
                                                                              actor=w.actor),
         lambda w: _deal(w.deal).owner_id == w.admin.pk),
    Path("change_owner", "owner page POST",
         lambda w: w.client.post(reverse("crm:owner", args=["deals", w.deal.pk]),
                                 {"owner": w.admin.pk, "version": _deal(w.deal).version}),
         lambda w: _deal(w.deal).owner_id == w.admin.pk),
    Path("change_owner", "bulk owner page POST",
         lambda w: w.client.post(reverse("crm:bulk_owner", args=["deals"]),
                                 {"owner": w.admin.pk, "ids": [_chosen_value(w)]}),
         lambda w: _deal(w.deal).owner_id == w.admin.pk),
    Path("add_note", "action", lambda w: actions.do_add_note(w.deal, "Hello", actor=w.actor),
         lambda w: _notes(w.deal).exists()),
    Path("add_note", "note POST", lambda w: w.client.post(reverse("crm:note_add", args=["deals", w.deal.pk]),
                                                          {"body": "Hello"}),
         lambda w: _notes(w.deal).exists()),
    Path("edit_note", "action", lambda w: actions.do_update_note(w.note, "Edited", actor=w.actor),
         lambda w: _note_text(w) == "Edited", setup=_add_note, needs="add_note"),
    Path("edit_note", "note edit POST",
         lambda w: w.client.post(reverse("crm:note_edit", args=["deals", w.deal.pk, w.note.pk]), {"body": "Edited"}),
         lambda w: _note_text(w) == "Edited", setup=_add_note, needs="add_note"),
    Path("delete_note", "action", lambda w: actions.do_delete_note(w.note, actor=w.actor),
         lambda w: not _notes(w.deal).exists(), setup=_add_note, needs="add_note"),
    Path("delete_note", "note delete POST",
         lambda w: w.client.post(reverse("crm:note_delete", args=["deals", w.deal.pk, w.note.pk])),
         lambda w: not _notes(w.deal).exists(), setup=_add_note, needs="add_note"),
    Path("add_attachment", "action", lambda w: actions.do_add_attachment(w.deal, _file(), actor=w.actor),
         lambda w: _files(w.deal).exists()),
    Path("add_attachment", "upload POST",
         lambda w: w.client.post(reverse("crm:attachment_add", args=["deals", w.deal.pk]), {"file": _file()}),
         lambda w: _files(w.deal).exists()),
    Path("delete_attachment", "action", lambda w: actions.do_delete_attachment(w.attachment, actor=w.actor),
         lambda w: not _files(w.deal).exists(), setup=_add_file, needs="add_attachment"),
    Path("delete_attachment", "attachment delete POST",
         lambda w: w.client.post(reverse("crm:attachment_delete", args=["deals", w.deal.pk, w.attachment.pk])),
         lambda w: not _files(w.deal).exists(), setup=_add_file, needs="add_attachment"),
]


@pytest.fixture
def locking_world(org, admin_user, enable, rep, exempt, sales_rep_profile, client_for):
    """Deals readable and editable by everyone; locking on for deals. make(restricted, actor)
    adds the rule "Closed deals" (locked for Sales reps) on first call, and a won deal each call."""
    from locking.actions import do_create_lock_rule

    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals")
    made = []

    def make(restricted: list[str], actor, editable: tuple[str, ...] = ()) -> World:
        if not made:
            made.append(do_create_lock_rule(org, "deals", name="Closed deals", criteria=WON, locked_for="selected",
                                            profiles=[sales_rep_profile.pk], restricted_actions=restricted,
                                            editable_fields=editable, actor=admin_user))
        deal = DealFactory(actor=actor, stage="won")
        assert RecordLock.objects.filter(record_id=deal.pk, kind="rule").exists()
        return World(deal=deal, actor=actor, admin=admin_user, client_for=client_for)

    return make


def _try(path: Path, world: World) -> None:
    try:
        path.attempt(world)
    except PermissionDenied:
        pass


def test_every_restricted_action_has_a_write_path():
    covered = {path.restricted for path in PATHS}
    assert covered == set(RESTRICTED_ACTIONS)
    assert restricted_action("update_note", "page") == "edit_note"


@pytest.mark.parametrize("path", PATHS, ids=str)
def test_locked_for_user_is_refused(path, locking_world, rep):
    world = locking_world([path.restricted], rep, path.editable)
    path.setup(world)
    _try(path, world)
    assert not path.changed(world)
    if path.shown_disabled is not None:
        assert path.shown_disabled(world), "the field is shown disabled, with the rule's name"
        return
    refused = TimelineEntry.objects.filter(record_id=world.deal.pk, kind="refused").last()
    assert refused is not None, "a refused attempt is on the timeline"
    assert "Closed deals" in refused.changes["reason"][1]


@pytest.mark.parametrize("path", PATHS, ids=str)
def test_exempt_user_goes_through(path, locking_world, exempt):
    world = locking_world([path.restricted], exempt, path.editable)
    path.setup(world)
    path.attempt(world)
    assert path.changed(world)
    assert not TimelineEntry.objects.filter(record_id=world.deal.pk, kind="refused").exists()


@pytest.mark.parametrize("restricted", sorted(RESTRICTED_ACTIONS))
def test_a_rule_lets_every_other_action_through(restricted, locking_world, rep):
    """Only the restricted actions are refused: every other path works for the locked-for user."""
    for path in PATHS:
        if restricted in (path.restricted, path.needs):
            continue
        world = locking_world([restricted], rep)
        path.setup(world)
        path.attempt(world)
        assert path.changed(world), str(path)


def test_locked_for_all_refuses_the_admin_too(org, admin_user, enable, add_rule):
    enable("deals")
    add_rule("deals", "Closed deals", WON)
    deal = DealFactory(actor=admin_user, stage="lost")
    with pytest.raises(PermissionDenied, match="Closed deals"):
        actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=admin_user)


def test_restricted_action_names_for_every_path():
    assert restricted_action("update", "page") == "edit"
    assert restricted_action("update", "api") == "edit"
    assert restricted_action("update", "inline") == "edit"
    assert restricted_action("update", "rule:3") == "edit"
    assert restricted_action("update", "approval:3") == "edit"
    assert restricted_action("update", "bulk") == "bulk_edit"
    assert restricted_action("update", "import") == "import_update"
    assert restricted_action("create", "import") is None
    assert restricted_action("restore", "page") is None
    assert restricted_action("transition", "blueprint") == "edit"  # unknown writes count as edits
