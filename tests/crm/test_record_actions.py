"""Record actions as people use them: create, update (optimistic version), delete and
restore, owner changes, notes, attachments; with their timeline, guards and events."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone

from access.actions import do_set_membership_active, do_set_org_default
from access.models import Organization, User
from access.visibility import bind_org, get_record, visible
from crm import actions, timeline
from crm.actions import ConflictError, RecordValidationError
from crm.events import subscribe, unsubscribe
from crm.fieldtypes import CUSTOM_FIELD_TYPES
from crm.guards import GuardRefusal, register_guard, unregister_guard
from crm.models import Account, Attachment, Deal, Note, Task, TimelineEntry
from tests.helpers import version_of, versions_of

pytestmark = pytest.mark.django_db

OPTIONS = [{"value": "red", "label_en": "Red", "label_zh": "红"}, {"value": "green", "label_en": "Green"},
           {"value": "blue", "label_en": "Blue"}]
REQUIRED = {"accounts": {"name": "Acme"}, "contacts": {"last_name": "Lee"}, "leads": {"last_name": "Lead"},
            "deals": {"name": "Big deal"}, "tasks": {"subject": "Call back"}}


def add_field(org, module, field_type, actor, *, target="accounts", api_name=None, **settings):
    return actions.do_create_field(org, module, api_name=api_name or f"c_{field_type}", label_en=f"C {field_type}",
                                   field_type=field_type,
                                   options=OPTIONS if field_type in ("picklist", "multi_select") else None,
                                   target=target if field_type == "lookup" else "", actor=actor, **settings)


def entries(record):
    """Timeline entries of a record in the order they were written."""
    return sorted(timeline.for_record(record), key=lambda e: e.pk)


def kinds(record):
    return [e.kind for e in entries(record)]


@pytest.fixture
def received():
    """Events delivered to a listener defined here."""
    events = []
    subscribe(events.append)
    yield events
    unsubscribe(events.append)


@pytest.fixture
def guard():
    """register(fn) installs a guard for the test; it is removed afterwards."""
    installed = []

    def register(fn):
        register_guard(fn)
        installed.append(fn)
        return fn

    yield register
    for fn in installed:
        unregister_guard(fn)


# --- create ------------------------------------------------------------------------

def test_create_sets_owner_version_defaults_and_timeline(admin_user, standard_user, org):
    lead = actions.do_create_record("leads", {"last_name": "Zhang", "company": "星辰科技", "email": "Li@Example.test",
                                              "phone": "+86 138-0013-8000"}, actor=standard_user, path="api")
    stored = get_record(standard_user, actions.bound_schema("leads", org), lead.pk)
    assert (stored.owner_id, stored.created_by_id, stored.modified_by_id) == (standard_user.pk,) * 3
    assert stored.version == 1 and stored.status == "new"  # the schema default
    assert stored.email == "li@example.test" and stored.phone == "+8613800138000"  # stored normalized
    [created] = entries(stored)
    assert (created.kind, created.actor_id, created.actor_name, created.path) == ("created", standard_user.pk, "Sam",
                                                                                 "api")
    assert created.changes == {"last_name": [None, "Zhang"], "company": [None, "星辰科技"],
                               "email": [None, "li@example.test"], "phone": [None, "+8613800138000"],
                               "status": [None, "new"], "owner": [None, {"id": standard_user.pk, "name": "Sam"}]}


def test_create_for_another_owner(admin_user, standard_user, org):
    deal = actions.do_create_record("deals", {"name": "Handed over"}, actor=admin_user, owner=standard_user)
    assert deal.owner_id == standard_user.pk and deal.created_by_id == admin_user.pk
    assert entries(deal)[0].changes["owner"] == [None, {"id": standard_user.pk, "name": "Sam"}]
    # deals are private by default: the new owner sees it
    assert visible(standard_user, actions.bound_schema("deals", org)).filter(pk=deal.pk).exists()


def test_create_for_an_owner_outside_the_org_is_refused(admin_user, other_org_user):
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_create_record("deals", {"name": "Nope"}, actor=admin_user, owner=other_org_user)
    assert "owner" in excinfo.value.message_dict
    assert not Deal.objects.exists() and not TimelineEntry.objects.exists()


# --- update and the optimistic version ------------------------------------------------

def test_update_bumps_version_and_records_old_and_new(admin_user, standard_user):
    account = actions.do_create_record("accounts", {"name": "Acme", "city": "Berlin"}, actor=admin_user)
    updated = actions.do_update_record(account, {"city": "Paris", "employees": "12"}, version=1, actor=standard_user,
                                       path="api")
    assert (updated.version, updated.city, updated.employees, updated.modified_by_id) == (2, "Paris", 12,
                                                                                          standard_user.pk)
    last = entries(account)[-1]
    assert (last.kind, last.actor_id, last.path) == ("updated", standard_user.pk, "api")
    assert last.changes == {"city": ["Berlin", "Paris"], "employees": [None, 12]}


def test_update_without_a_change_writes_nothing(admin_user):
    account = actions.do_create_record("accounts", {"name": "Acme", "city": "Berlin", "employees": 5},
                                       actor=admin_user)
    same = actions.do_update_record(account, {"city": " Berlin ", "employees": "5.0", "country": ""}, version=1,
                                    actor=admin_user)
    assert same.version == 1
    assert kinds(account) == ["created"]


def test_stale_version_is_a_conflict_naming_who_and_when(admin_user, standard_user, org):
    account = actions.do_create_record("accounts", {"name": "Acme", "city": "Berlin"}, actor=admin_user)
    opened_version = account.version  # Alice opens the edit form ...
    actions.do_update_record(account, {"city": "Paris"}, version=opened_version, actor=standard_user)  # Sam saves
    with pytest.raises(ConflictError) as excinfo:  # ... then Alice saves hers
        actions.do_update_record(account, {"city": "Rome", "name": "Acme AG"}, version=opened_version,
                                 actor=admin_user)
    stored = Account.objects.get(pk=account.pk)
    message = str(excinfo.value)
    assert "Sam" in message
    assert timezone.localtime(stored.modified_at).strftime("%Y-%m-%d %H:%M") in message
    assert "not saved" in message
    assert (stored.city, stored.name, stored.version, stored.modified_by_id) == ("Paris", "Acme", 2,
                                                                                standard_user.pk)
    assert kinds(account) == ["created", "updated"]
    assert entries(account)[-1].actor_id == standard_user.pk
    # with the current version (as text, as forms post it) the save goes through
    actions.do_update_record(account, {"city": "Rome"}, version="2", actor=admin_user)
    assert Account.objects.get(pk=account.pk).city == "Rome"


def test_stale_version_refuses_delete_and_owner_change(admin_user, standard_user, other_user):
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    actions.do_update_record(account, {"city": "Paris"}, version=1, actor=standard_user)
    with pytest.raises(ConflictError):
        actions.do_delete_record(account, version=1, actor=admin_user)
    with pytest.raises(ConflictError):
        actions.do_change_owner(account, other_user.pk, version=1, actor=admin_user)
    stored = Account.objects.get(pk=account.pk)
    assert (stored.deleted_at, stored.owner_id, stored.version) == (None, admin_user.pk, 2)
    assert kinds(account) == ["created", "updated"]


def test_an_edit_that_takes_the_record_out_of_reach_is_refused(admin_user, standard_user, other_user, org):
    """Tasks are private: the assignee may edit, but not hand the task away from themselves."""
    task = actions.do_create_record("tasks", {"subject": "Call", "assignee": standard_user.pk}, actor=admin_user)
    with pytest.raises(PermissionDenied) as excinfo:
        actions.do_update_record(task, {"assignee": other_user.pk, "subject": "Call back"}, version=1,
                                 actor=standard_user)
    assert "out of your reach" in str(excinfo.value)
    stored = Task.objects.get(pk=task.pk)
    assert (stored.assignee_id, stored.subject, stored.version) == (standard_user.pk, "Call", 1)
    assert kinds(task) == ["created"]


# --- the timeline keeps old -> new for every field type ---------------------------------

# (module, field, custom type or None, first value, second value, timeline old, timeline new)
# "@sam"/"@olga" stand for user ids, "#1"/"#2" for the accounts North and South.
TIMELINE_CASES = [
    ("accounts", "name", None, "Acme", "Acme Ltd", "Acme", "Acme Ltd"),
    ("accounts", "description", None, "Old 描述", "New\nlines", "Old 描述", "New\nlines"),
    ("accounts", "industry", None, "finance", "Retail", "finance", "retail"),
    ("accounts", "employees", None, "12", 13, 12, 13),
    ("accounts", "website", None, "acme.test", "http://acme.example/x", "https://acme.test",
     "http://acme.example/x"),
    ("accounts", "phone", None, "+86 138 0013 8000", "010-1234-5678", "+8613800138000", "01012345678"),
    ("contacts", "email", None, "Ann@X.test", "bob@x.test", "ann@x.test", "bob@x.test"),
    ("contacts", "account", None, "#1", "#2", "#1", "#2"),
    ("deals", "amount", None, "1000", "1250.5", "1000.00", "1250.5"),
    ("deals", "discount", None, "5%", "7.5", "5.00", "7.5"),
    ("deals", "close_date", None, "2024-01-31", "2024-02-29", "2024-01-31", "2024-02-29"),
    ("deals", "stage", None, "proposal", "Closed won", "proposal", "won"),
    ("tasks", "assignee", None, "@sam", "@olga", "@sam", "@olga"),
    ("tasks", "due_date", None, "2024-12-31", "2025-01-01", "2024-12-31", "2025-01-01"),
    ("accounts", "c_text", "text", "Old", "New 新", "Old", "New 新"),
    ("accounts", "c_long_text", "long_text", "one\ntwo", "three", "one\ntwo", "three"),
    ("accounts", "c_integer", "integer", 5, "7", 5, 7),
    ("accounts", "c_decimal", "decimal", "1.5", "-2.2500", "1.5", "-2.2500"),
    ("accounts", "c_currency", "currency", "10.00", "12.5", "10.00", "12.5"),
    ("accounts", "c_percent", "percent", "50", "75.5%", "50", "75.5"),
    ("accounts", "c_date", "date", "2024-01-31", "2024-02-29", "2024-01-31", "2024-02-29"),
    ("accounts", "c_datetime", "datetime", "2024-01-31 10:00", "2024-02-01T08:00:00+08:00",
     "2024-01-31T10:00:00+00:00", "2024-02-01T00:00:00+00:00"),
    ("accounts", "c_boolean", "boolean", "yes", False, True, False),
    ("accounts", "c_email", "email", "A@X.test", "b@y.test", "a@x.test", "b@y.test"),
    ("accounts", "c_phone", "phone", "138 0013 8000", "+1 (555) 010-9999", "13800138000", "+15550109999"),
    ("accounts", "c_url", "url", "a.test", "https://b.test/path", "https://a.test", "https://b.test/path"),
    ("accounts", "c_picklist", "picklist", "red", "Green", "red", "green"),
    ("accounts", "c_multi_select", "multi_select", ["red", "green"], "blue; red", ["green", "red"],
     ["blue", "red"]),
    ("accounts", "c_user", "user", "@sam", "@olga", "@sam", "@olga"),
    ("accounts", "c_lookup", "lookup", "#1", "#2", "#1", "#2"),
]


CREATED_AS = {("deals", "amount"): "1000", ("deals", "discount"): "5"}


def test_timeline_cases_cover_every_custom_field_type():
    # A file field's timeline (uploads, replacements, clears) is in tests/files.
    assert sorted(case[2] for case in TIMELINE_CASES if case[2]) == sorted(t for t in CUSTOM_FIELD_TYPES if t != "file")


@pytest.fixture
def refs(admin_user, standard_user, other_user):
    north = actions.do_create_record("accounts", {"name": "North"}, actor=admin_user)
    south = actions.do_create_record("accounts", {"name": "South"}, actor=admin_user)
    users = {"sam": standard_user, "olga": other_user}
    accounts = {"1": north, "2": south}

    def value(v):
        if isinstance(v, str) and v[:1] == "@":
            return users[v[1:]].pk
        if isinstance(v, str) and v[:1] == "#":
            return accounts[v[1:]].pk
        return v

    def shown(v):  # what the timeline keeps for a reference: its id and name as they were
        if isinstance(v, str) and v[:1] == "@":
            user = users[v[1:]]
            return {"id": user.pk, "name": str(user)}
        if isinstance(v, str) and v[:1] == "#":
            account = accounts[v[1:]]
            return {"id": account.pk, "name": account.name}
        return v

    def event(v):  # what an event carries for a reference: the id
        return value(v)

    return {"value": value, "shown": shown, "event": event}


@pytest.mark.parametrize("module, field, custom_type, first, second, old, new", TIMELINE_CASES,
                         ids=[f"{c[0]}.{c[1]}" for c in TIMELINE_CASES])
def test_timeline_records_old_and_new_values(org, admin_user, refs, received, django_capture_on_commit_callbacks,
                                             module, field, custom_type, first, second, old, new):
    key = add_field(org, module, custom_type, admin_user).key if custom_type else field
    data = {**REQUIRED[module], field: refs["value"](first)}
    record = actions.do_create_record(module, data, actor=admin_user)
    # a decimal column reads back at its scale ("1000.00"); the create entry keeps the value as cleaned
    assert entries(record)[0].changes[key] == [None, CREATED_AS.get((module, field), refs["shown"](old))]
    with django_capture_on_commit_callbacks(execute=True):
        updated = actions.do_update_record(record, {field: refs["value"](second)}, version=1, actor=admin_user)
    last = entries(record)[-1]
    assert last.kind == "updated"
    assert last.changes == {key: [refs["shown"](old), refs["shown"](new)]}
    assert [e.changes for e in received if e.kind == "updated"] == [{key: [refs["event"](old), refs["event"](new)]}]
    schema = actions.bound_schema(module, org)
    stored = visible(admin_user, schema).get(pk=updated.pk)
    spec = schema.field(key)
    assert spec.get_value(stored) == spec.field_type.clean(refs["value"](second), spec)


@pytest.mark.parametrize("custom", [False, True], ids=["column", "custom"])
def test_timeline_when_a_value_is_filled_and_cleared(org, admin_user, custom):
    key = add_field(org, "accounts", "text", admin_user).key if custom else "city"
    field = "c_text" if custom else "city"
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    assert key not in entries(account)[0].changes  # empty values are not listed on create
    actions.do_update_record(account, {field: "Lyon"}, version=1, actor=admin_user)
    actions.do_update_record(account, {field: ""}, version=2, actor=admin_user)
    filled, cleared = entries(account)[1:]
    assert filled.changes[key][0] in (None, "") and filled.changes[key][1] == "Lyon"
    assert cleared.changes[key][0] == "Lyon" and cleared.changes[key][1] in (None, "")


def test_a_reference_keeps_the_name_it_had(admin_user, refs, org):
    """The timeline shows the account as it was named when the change was made."""
    contact = actions.do_create_record("contacts", {"last_name": "Lee", "account": refs["value"]("#1")},
                                       actor=admin_user)
    north = Account.objects.get(pk=refs["value"]("#1"))
    actions.do_update_record(north, {"name": "North Renamed"}, version=1, actor=admin_user)
    assert entries(contact)[0].changes["account"] == [None, {"id": north.pk, "name": "North"}]


# --- invalid input is refused, naming the field, saving nothing ------------------------

# (module, field, custom type or None, bad value, message fragment); the lookup custom field
# points at deals (private), "#private" is Alice's deal Sam cannot see.
INVALID_CASES = [
    ("accounts", "name", None, "   ", "This field is required."),
    ("accounts", "employees", None, "many", "Enter a whole number."),
    ("accounts", "employees", None, "2.5", "Enter a whole number."),
    ("accounts", "employees", None, True, "Enter a whole number."),
    ("accounts", "website", None, "not a url", "Enter a valid URL."),
    ("accounts", "phone", None, "call me maybe", "Enter a valid phone number"),
    ("accounts", "industry", None, "mining", "“mining” is not one of the choices."),
    ("accounts", "owner", None, "@someone", "This field cannot be changed here."),
    ("accounts", "nope", None, "x", "Unknown field “nope”."),
    ("contacts", "email", None, "not-an-email", "Enter a valid email address."),
    ("contacts", "account", None, "#other_org", "Choose a record you can see."),
    ("contacts", "account", None, 999999999, "Choose a record you can see."),
    ("contacts", "account", None, "abc", "Choose a valid option."),
    ("deals", "name", None, "", "This field is required."),
    ("deals", "stage", None, "", "This field is required."),
    ("deals", "amount", None, "1.005", "Use at most 2 decimal places."),
    ("deals", "amount", None, "1e20", "Enter a number."),
    ("deals", "discount", None, "150", "Enter a percentage between 0 and 100."),
    ("deals", "close_date", None, "2024-02-30", "Enter a valid date"),
    ("tasks", "assignee", None, "@other_org", "Choose an active user of this organisation."),
    ("tasks", "assignee", None, "@inactive", "Choose an active user of this organisation."),
    ("accounts", "c_integer", "integer", "many", "Enter a whole number."),
    ("accounts", "c_integer", "integer", 1.5, "Enter a whole number."),
    ("accounts", "c_integer", "integer", [1], "Enter a whole number."),
    ("accounts", "c_integer", "integer", 2**63, "Enter a whole number."),
    ("accounts", "c_decimal", "decimal", "abc", "Enter a number."),
    ("accounts", "c_decimal", "decimal", "1.23456", "Use at most 4 decimal places."),
    ("accounts", "c_decimal", "decimal", "NaN", "Enter a number."),
    ("accounts", "c_decimal", "decimal", "Infinity", "Enter a number."),
    ("accounts", "c_decimal", "decimal", False, "Enter a number."),
    ("accounts", "c_currency", "currency", "9.999", "Use at most 2 decimal places."),
    ("accounts", "c_percent", "percent", "-1", "Enter a percentage between 0 and 100."),
    ("accounts", "c_percent", "percent", "101%", "Enter a percentage between 0 and 100."),
    ("accounts", "c_date", "date", "31/01/2024", "Enter a valid date (YYYY-MM-DD)."),
    ("accounts", "c_date", "date", "2024-13-01", "Enter a valid date (YYYY-MM-DD)."),
    ("accounts", "c_datetime", "datetime", "yesterday", "Enter a valid date and time"),
    ("accounts", "c_datetime", "datetime", "2024-02-30 10:00", "Enter a valid date and time"),
    ("accounts", "c_datetime", "datetime", 12345, "Enter a valid date and time"),
    ("accounts", "c_boolean", "boolean", "maybe", "Enter yes or no."),
    ("accounts", "c_boolean", "boolean", 2, "Enter yes or no."),
    ("accounts", "c_email", "email", "a@", "Enter a valid email address."),
    ("accounts", "c_phone", "phone", "12", "Enter a valid phone number"),
    ("accounts", "c_url", "url", "http://", "Enter a valid URL."),
    ("accounts", "c_picklist", "picklist", "purple", "“purple” is not one of the choices."),
    ("accounts", "c_multi_select", "multi_select", ["red", "purple"], "“purple” is not one of the choices."),
    ("accounts", "c_multi_select", "multi_select", "red;purple", "“purple” is not one of the choices."),
    ("accounts", "c_user", "user", "@other_org", "Choose an active user of this organisation."),
    ("accounts", "c_user", "user", "@inactive", "Choose an active user of this organisation."),
    ("accounts", "c_user", "user", 999999999, "Choose an active user of this organisation."),
    ("accounts", "c_user", "user", "abc", "Choose a valid option."),
    ("accounts", "c_lookup", "lookup", "#private", "Choose a record you can see."),
    ("accounts", "c_lookup", "lookup", "#other_org", "Choose a record you can see."),
    ("accounts", "c_lookup", "lookup", 999999999, "Choose a record you can see."),
    # regressions: these once failed in the database (DataError), in Decimal or in iteration
    ("accounts", "city", None, "x" * 101, "Use at most 100 characters (this has 101)."),
    ("accounts", "website", None, "https://a.test/" + "a" * 600, "Use at most 500 characters"),
    ("accounts", "employees", None, 10**12, "Enter a whole number."),
    ("accounts", "c_text", "text", "x" * 256, "Use at most 255 characters"),
    ("accounts", "c_long_text", "long_text", "x" * 10001, "Use at most 10000 characters"),
    ("accounts", "c_integer", "integer", "sNaN", "Enter a whole number."),
    ("accounts", "c_multi_select", "multi_select", 5, "Choose one or more of the choices."),
    ("accounts", "c_multi_select", "multi_select", {"red": True}, "Choose one or more of the choices."),
]


@pytest.fixture
def bad_refs(org, admin_user, standard_user, make_user, other_org_user):
    inactive = make_user(org, username="ivy")
    do_set_membership_active(inactive.membership, False, actor=admin_user)
    private_deal = actions.do_create_record("deals", {"name": "Alice's"}, actor=admin_user)
    theirs = actions.do_create_record("accounts", {"name": "Globex Corp"}, actor=other_org_user)
    return {"@other_org": other_org_user.pk, "@inactive": inactive.pk, "@someone": admin_user.pk,
            "#other_org": theirs.pk, "#private": private_deal.pk}


@pytest.mark.parametrize("module, field, custom_type, bad, message", [
    case if type(case) is not tuple else pytest.param(*case, id=f"{case[0]}.{case[1]}-{number}")
    for number, case in enumerate(INVALID_CASES)])
def test_invalid_values_are_refused_naming_the_field(org, admin_user, standard_user, bad_refs, received,
                                                     django_capture_on_commit_callbacks,
                                                     module, field, custom_type, bad, message):
    key = add_field(org, module, custom_type, admin_user, target="deals").key if custom_type else field
    key = "__all__" if field == "nope" else key
    bad = bad_refs.get(bad, bad) if isinstance(bad, str) else bad
    schema = actions.bound_schema(module, org)
    model = schema.model
    existing = actions.do_create_record(module, dict(REQUIRED[module]), actor=standard_user)
    before = (model.objects.count(), TimelineEntry.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        # creating
        with pytest.raises(RecordValidationError) as excinfo:
            actions.do_create_record(module, {**REQUIRED[module], field: bad}, actor=standard_user)
        assert message in " ".join(excinfo.value.message_dict.get(key, [])), excinfo.value.message_dict
        # updating
        with pytest.raises(RecordValidationError) as excinfo:
            actions.do_update_record(existing, {field: bad}, version=1, actor=standard_user)
        assert message in " ".join(excinfo.value.message_dict.get(key, [])), excinfo.value.message_dict
    assert (model.objects.count(), TimelineEntry.objects.count()) == before
    stored = model.objects.get(pk=existing.pk)
    assert (stored.version, stored.custom) == (1, {})
    assert [e.kind for e in received] == []


def test_all_bad_fields_are_reported_at_once(admin_user):
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_create_record("deals", {"name": "", "amount": "lots", "close_date": "soon"}, actor=admin_user)
    assert set(excinfo.value.message_dict) == {"name", "amount", "close_date"}
    assert not Deal.objects.exists()


def test_unique_custom_field(org, admin_user):
    add_field(org, "accounts", "text", admin_user, api_name="tax_id", unique=True)
    key = actions.bound_schema("accounts", org).field("tax_id").key
    actions.do_create_record("accounts", {"name": "One", "tax_id": "DE123"}, actor=admin_user)
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_create_record("accounts", {"name": "Two", "tax_id": "DE123"}, actor=admin_user)
    assert "Another record already has this value." in excinfo.value.message_dict[key]
    assert Account.objects.count() == 1


# --- guards ---------------------------------------------------------------------------

def test_a_guard_refuses_an_update_and_nothing_changes(admin_user, standard_user, guard, received,
                                                       django_capture_on_commit_callbacks):
    seen = []

    @guard
    def no_atlantis(context):
        seen.append((context.action, dict(context.changes), context.actor.pk, context.path, context.module.key))
        if context.action == "update" and context.changes.get("city") == "Atlantis":
            raise GuardRefusal("Atlantis is not a real city.", guard="test")

    account = actions.do_create_record("accounts", {"name": "Acme", "city": "Berlin"}, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(GuardRefusal) as excinfo:
            actions.do_update_record(account, {"city": "Atlantis", "name": "Acme Sub"}, version=1,
                                     actor=standard_user, path="api")
    assert str(excinfo.value) == "Atlantis is not a real city." and excinfo.value.guard == "test"
    assert isinstance(excinfo.value, PermissionDenied)
    stored = Account.objects.get(pk=account.pk)
    assert (stored.city, stored.name, stored.version) == ("Berlin", "Acme", 1)
    assert sorted(kinds(account)) == ["created", "refused"]  # the attempt is recorded, not the change
    assert [e.kind for e in received] == []
    assert seen[-1] == ("update", {"city": "Atlantis", "name": "Acme Sub"}, standard_user.pk, "api", "accounts")
    # other changes still pass the guard
    actions.do_update_record(account, {"city": "Paris"}, version=1, actor=standard_user)
    assert Account.objects.get(pk=account.pk).city == "Paris"


def test_guards_see_every_kind_of_write(admin_user, standard_user, other_user, guard):
    seen = []
    guard(lambda context: seen.append(context.action))
    deal = actions.do_create_record("deals", {"name": "D"}, actor=admin_user)
    actions.do_update_record(deal, {"amount": "5"}, version=1, actor=admin_user)
    actions.do_change_owner(deal, other_user.pk, version=version_of(deal), actor=admin_user)
    actions.do_add_note(deal, "hi", actor=admin_user)
    actions.do_add_attachment(deal, SimpleUploadedFile("a.txt", b"a"), actor=admin_user)
    actions.do_delete_record(deal, version=version_of(deal), actor=admin_user)
    actions.do_restore_record(deal, actor=admin_user)
    assert seen == ["create", "update", "change_owner", "add_note", "add_attachment", "delete", "restore"]


def test_a_guard_refusing_create_or_delete_saves_nothing(admin_user, guard):
    account = actions.do_create_record("accounts", {"name": "Keep"}, actor=admin_user)

    @guard
    def frozen(context):
        raise GuardRefusal(f"No {context.action} today.")

    with pytest.raises(GuardRefusal, match="No create today."):
        actions.do_create_record("accounts", {"name": "New"}, actor=admin_user)
    with pytest.raises(GuardRefusal, match="No delete today."):
        actions.do_delete_record(account, version=version_of(account), actor=admin_user)
    assert list(Account.objects.values_list("name", "deleted_at")) == [("Keep", None)]
    assert sorted(TimelineEntry.objects.values_list("kind", flat=True)) == ["created", "refused"]


# --- events -----------------------------------------------------------------------------

def test_events_are_delivered_only_after_commit_with_old_and_new(org, admin_user, standard_user, received,
                                                                 django_capture_on_commit_callbacks):
    rate = add_field(org, "accounts", "decimal", admin_user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        account = actions.do_create_record("accounts", {"name": "Acme", "c_decimal": "1.5"}, actor=admin_user)
        actions.do_update_record(account, {"c_decimal": "2", "city": "Paris"}, version=1, actor=standard_user,
                                 path="api")
        assert received == []  # still inside the transaction
    assert len(callbacks) >= 2
    created, updated = received
    assert (created.kind, created.module, created.org_id, created.record_id, created.actor_id, created.path) == (
        "created", "accounts", org.pk, account.pk, admin_user.pk, "page")
    assert created.changes == {"name": [None, "Acme"], rate.key: [None, "1.5"], "owner": [None, admin_user.pk]}
    assert (updated.kind, updated.actor_id, updated.path) == ("updated", standard_user.pk, "api")
    assert updated.changes == {rate.key: ["1.5", "2"], "city": ["", "Paris"]}


def test_no_event_when_the_action_fails(admin_user, standard_user, received, django_capture_on_commit_callbacks):
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    actions.do_update_record(account, {"city": "Paris"}, version=1, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ConflictError):
            actions.do_update_record(account, {"city": "Rome"}, version=1, actor=standard_user)
        with pytest.raises(RecordValidationError):
            actions.do_update_record(account, {"employees": "x"}, version=2, actor=standard_user)
    assert received == []


def test_events_for_delete_restore_owner_and_notes(admin_user, other_user, received,
                                                   django_capture_on_commit_callbacks):
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_change_owner(account, other_user.pk, version=version_of(account), actor=admin_user)
        actions.do_add_note(account, "hello", actor=admin_user)
        actions.do_delete_record(account, version=version_of(account), actor=admin_user)
        actions.do_restore_record(account, actor=admin_user)
    assert [(e.kind, e.record_id) for e in received] == [
        ("owner_changed", account.pk), ("note_added", account.pk), ("deleted", account.pk), ("restored", account.pk)]
    assert received[0].changes == {"owner": [admin_user.pk, other_user.pk]}


# --- delete, recycle bin, restore -------------------------------------------------------

def _at(monkeypatch, when):
    """Let the actions (and auto_now) run as if it were `when`."""
    monkeypatch.setattr(timezone, "now", lambda: when)


def test_delete_moves_to_the_recycle_bin_and_an_admin_restores_within_30_days(
        org, admin_user, standard_user, monkeypatch):
    schema = actions.bound_schema("accounts", org)
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=standard_user)
    real_now = timezone.now()
    _at(monkeypatch, real_now - dt.timedelta(days=29))
    actions.do_delete_record(account, version=version_of(account), actor=standard_user)
    monkeypatch.undo()
    stored = Account.objects.get(pk=account.pk)
    assert stored.deleted_by_id == standard_user.pk and stored.version == 2
    for user in (admin_user, standard_user):
        assert not visible(user, schema).filter(pk=account.pk).exists()
        with pytest.raises(Http404):
            get_record(user, schema, account.pk)
    assert visible(admin_user, schema, deleted=True).filter(pk=account.pk).exists()
    with pytest.raises(PermissionDenied):  # a deleted record cannot be edited
        actions.do_update_record(account, {"city": "x"}, version=2, actor=admin_user)
    with pytest.raises(PermissionDenied, match="administrator"):
        actions.do_restore_record(account, actor=standard_user)
    restored = actions.do_restore_record(account, actor=admin_user)
    assert (restored.deleted_at, restored.deleted_by_id, restored.version) == (None, None, 3)
    assert get_record(standard_user, schema, account.pk).name == "Acme"
    assert kinds(account) == ["created", "deleted", "restored"]


def test_restore_is_refused_after_30_days(org, admin_user, monkeypatch):
    account = actions.do_create_record("accounts", {"name": "Old"}, actor=admin_user)
    real_now = timezone.now()
    _at(monkeypatch, real_now - dt.timedelta(days=31))
    actions.do_delete_record(account, version=version_of(account), actor=admin_user)
    monkeypatch.undo()
    with pytest.raises(PermissionDenied, match="too long"):
        actions.do_restore_record(account, actor=admin_user)
    assert Account.objects.get(pk=account.pk).deleted_at is not None
    assert kinds(account) == ["created", "deleted"]


def test_purge_removes_only_records_past_the_recycle_bin(org, admin_user, monkeypatch):
    old = actions.do_create_record("accounts", {"name": "Old"}, actor=admin_user)
    recent = actions.do_create_record("accounts", {"name": "Recent"}, actor=admin_user)
    actions.do_add_note(old, "bye", actor=admin_user)
    real_now = timezone.now()
    _at(monkeypatch, real_now - dt.timedelta(days=31))
    actions.do_delete_record(old, version=version_of(old), actor=admin_user)
    monkeypatch.undo()
    actions.do_delete_record(recent, version=version_of(recent), actor=admin_user)
    assert actions.do_purge_recycle_bin() == 1
    assert list(Account.objects.values_list("name", flat=True)) == ["Recent"]
    assert not Note.objects.exists()


# --- owners ----------------------------------------------------------------------------

def test_change_owner(admin_user, standard_user, other_user, org):
    deal = actions.do_create_record("deals", {"name": "D"}, actor=standard_user)
    changed = actions.do_change_owner(deal, other_user.pk, version=1, actor=standard_user)
    assert (changed.owner_id, changed.version, changed.modified_by_id) == (other_user.pk, 2, standard_user.pk)
    last = entries(deal)[-1]
    assert (last.kind, last.changes) == ("owner_changed", {"owner": [{"id": standard_user.pk, "name": "Sam"},
                                                                     {"id": other_user.pk, "name": "Olga"}]})


@pytest.mark.parametrize("who", ["other_org", "inactive", "missing"])
def test_change_owner_to_someone_not_active_here_is_refused(admin_user, make_user, other_org_user, org, who):
    target = {"other_org": lambda: other_org_user.pk, "missing": lambda: 999999999,
              "inactive": lambda: do_set_membership_active(make_user(org).membership, False,
                                                           actor=admin_user).user_id}[who]()
    deal = actions.do_create_record("deals", {"name": "D"}, actor=admin_user)
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_change_owner(deal, target, version=version_of(deal), actor=admin_user)
    assert "owner" in excinfo.value.message_dict
    assert Deal.objects.get(pk=deal.pk).owner_id == admin_user.pk and kinds(deal) == ["created"]


def test_bulk_change_owner_writes_one_entry_per_record(org, admin_user, standard_user, other_user, received,
                                                       django_capture_on_commit_callbacks):
    deals = [actions.do_create_record("deals", {"name": f"D{i}"}, actor=standard_user) for i in range(3)]
    already = actions.do_create_record("deals", {"name": "Hers"}, actor=admin_user, owner=other_user)
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_bulk_change_owner("deals", versions_of([*deals, already]), other_user.pk,
                                     actor=admin_user, path="api")
    for deal in deals:
        stored = Deal.objects.get(pk=deal.pk)
        assert (stored.owner_id, stored.version, stored.modified_by_id) == (other_user.pk, 2, admin_user.pk)
        last = entries(deal)[-1]
        assert (last.kind, last.path, last.changes["owner"][1]["id"]) == ("owner_changed", "api", other_user.pk)
    assert kinds(already) == ["created"] and Deal.objects.get(pk=already.pk).version == 1  # nothing to change
    assert sorted(e.record_id for e in received if e.kind == "owner_changed") == sorted(d.pk for d in deals)


def test_bulk_change_owner_is_all_or_nothing_when_one_record_is_not_editable(
        org, admin_user, standard_user, other_user):
    """Deals are private: Sam may change his own two, not Alice's, so none change."""
    mine = [actions.do_create_record("deals", {"name": f"Mine {i}"}, actor=standard_user) for i in range(2)]
    hers = actions.do_create_record("deals", {"name": "Hers"}, actor=admin_user)
    with pytest.raises(PermissionDenied) as excinfo:
        actions.do_bulk_change_owner("deals", versions_of([*mine, hers]), other_user.pk, actor=standard_user)
    assert "1 of the chosen records cannot be changed by you; nothing was changed." in str(excinfo.value)
    assert sorted(Deal.objects.values_list("owner_id", "version")) == sorted(
        [(standard_user.pk, 1), (standard_user.pk, 1), (admin_user.pk, 1)])
    assert not TimelineEntry.objects.filter(kind="owner_changed").exists()


def test_bulk_change_owner_is_all_or_nothing_when_a_guard_refuses_one(admin_user, other_user, guard):
    deals = [actions.do_create_record("deals", {"name": name}, actor=admin_user) for name in ("A", "Locked", "C")]

    @guard
    def locked(context):
        if context.action == "change_owner" and context.record.name == "Locked":
            raise GuardRefusal("This deal is locked.")

    with pytest.raises(GuardRefusal, match="locked"):
        actions.do_bulk_change_owner("deals", versions_of(deals), other_user.pk, actor=admin_user)
    assert set(Deal.objects.values_list("owner_id", flat=True)) == {admin_user.pk}
    assert not TimelineEntry.objects.filter(kind="owner_changed").exists()


def test_bulk_change_owner_refuses_other_orgs_records_and_stale_versions(admin_user, other_user, other_org_user):
    mine = actions.do_create_record("deals", {"name": "Mine"}, actor=admin_user)
    theirs = actions.do_create_record("deals", {"name": "Theirs"}, actor=other_org_user)
    with pytest.raises(PermissionDenied):
        actions.do_bulk_change_owner("deals", {mine.pk: 1, theirs.pk: 1}, other_user.pk, actor=admin_user)
    actions.do_update_record(mine, {"amount": "1"}, version=1, actor=admin_user)
    with pytest.raises(ConflictError):
        actions.do_bulk_change_owner("deals", {mine.pk: 1}, other_user.pk, actor=admin_user)
    assert Deal.objects.get(pk=mine.pk).owner_id == admin_user.pk
    assert Deal.objects.get(pk=theirs.pk).owner_id == other_org_user.pk


# --- notes and attachments ----------------------------------------------------------------

def test_note_stores_mentions_of_active_members_only(org, admin_user, standard_user, other_user, make_user,
                                                     other_org_user):
    inactive = make_user(org, username="ivy")
    do_set_membership_active(inactive.membership, False, actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    body = "Ask @sam and @olga (not @ivy, @globex-admin or @nobody) about 星辰 pricing"
    note = actions.do_add_note(account, f"  {body}\n", actor=admin_user)
    stored = Note.objects.get(pk=note.pk)
    assert (stored.body, stored.author_id, stored.record_id, stored.org_id) == (body, admin_user.pk, account.pk,
                                                                               org.pk)
    assert set(stored.mentions.values_list("username", flat=True)) == {"sam", "olga"}
    assert set(User.objects.get(pk=standard_user.pk).mentioned_in_notes.all()) == {stored}
    last = entries(account)[-1]
    assert (last.kind, last.changes) == ("note_added", {"note": [None, note.pk]})


def test_a_mention_at_the_end_of_a_sentence(admin_user, standard_user, make_user, org):
    """Regression: the full stop after '@sam.' was read as part of the username."""
    make_user(org, username="j.doe")
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    note = actions.do_add_note(account, "All done, thanks @sam. Over to @j.doe.", actor=admin_user)
    assert sorted(note.mentions.values_list("username", flat=True)) == ["j.doe", "sam"]


def test_notes_refused_when_empty_too_long_or_on_a_record_out_of_sight(admin_user, standard_user):
    deal = actions.do_create_record("deals", {"name": "Private"}, actor=admin_user)
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_add_note(deal, "   ", actor=admin_user)
    assert "body" in excinfo.value.message_dict
    with pytest.raises(RecordValidationError):
        actions.do_add_note(deal, "x" * 10001, actor=admin_user)
    with pytest.raises(PermissionDenied):
        actions.do_add_note(deal, "sneaky", actor=standard_user)
    assert not Note.objects.exists() and kinds(deal) == ["created"]


def test_attachment_is_stored_and_logged(settings, org, admin_user, standard_user, other_user):
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=standard_user)
    attachment = actions.do_add_attachment(account, SimpleUploadedFile("plan.txt", b"the plan", "text/plain"),
                                           actor=standard_user)
    assert (attachment.name, attachment.size, attachment.content_type) == ("plan.txt", 8, "text/plain")
    assert attachment.file.read() == b"the plan"
    assert str(settings.MEDIA_ROOT) in attachment.file.path
    assert entries(account)[-1].changes == {"file": [None, "plan.txt"], "attachment": [None, attachment.pk]}
    settings.ATTACHMENT_MAX_BYTES = 4
    with pytest.raises(RecordValidationError):
        actions.do_add_attachment(account, SimpleUploadedFile("big.txt", b"12345"), actor=standard_user)
    do_set_org_default(org, "accounts", "public_read", actor=admin_user)
    other = bind_org(User.objects.get(pk=other_user.pk), Organization.objects.get(pk=org.pk))  # a fresh request
    with pytest.raises(PermissionDenied):  # may read, not edit
        actions.do_add_attachment(account, SimpleUploadedFile("x.txt", b"x"), actor=other)
    assert Attachment.objects.count() == 1


# --- deactivated users --------------------------------------------------------------------

def test_a_deactivated_user_can_no_longer_act(org, admin_user, standard_user, other_user):
    schema = actions.bound_schema("accounts", org)
    account = actions.do_create_record("accounts", {"name": "Sam's"}, actor=standard_user)
    do_set_membership_active(User.objects.get(pk=standard_user.pk).memberships.get(org=org), False,
                             actor=admin_user)
    sam = bind_org(User.objects.get(pk=standard_user.pk), org)  # the next request, as the middleware binds it
    attempts = {
        "create": lambda: actions.do_create_record("accounts", {"name": "New"}, actor=sam),
        "update": lambda: actions.do_update_record(account, {"city": "x"}, version=1, actor=sam),
        "delete": lambda: actions.do_delete_record(account, version=version_of(account), actor=sam),
        "owner": lambda: actions.do_change_owner(account, other_user.pk, version=version_of(account), actor=sam),
        "bulk owner": lambda: actions.do_bulk_change_owner("accounts", versions_of([account]), other_user.pk,
                                                           actor=sam),
        "note": lambda: actions.do_add_note(account, "hi", actor=sam),
        "attachment": lambda: actions.do_add_attachment(account, SimpleUploadedFile("a.txt", b"a"), actor=sam),
        "field": lambda: actions.do_create_field(org, "accounts", api_name="x", label_en="X", field_type="text",
                                                 actor=sam),
    }
    for name, attempt in attempts.items():
        with pytest.raises(PermissionDenied):
            attempt()
    assert not visible(sam, schema).exists()
    stored = Account.objects.get(pk=account.pk)
    assert (stored.name, stored.owner_id, stored.version, stored.deleted_at) == ("Sam's", standard_user.pk, 1, None)
    assert Account.objects.count() == 1 and kinds(account) == ["created"]
    # their records stay and others carry on
    actions.do_update_record(account, {"city": "Oslo"}, version=1, actor=admin_user)


def test_a_refused_write_is_on_the_timeline_and_changes_nothing(admin_user, standard_user):
    from crm.guards import GuardRefusal, register_guard, unregister_guard
    from crm.models import TimelineEntry

    account = actions.do_create_record("accounts", {"name": "Guarded"}, actor=admin_user)

    def frozen(context):
        if context.action in ("update", "change_owner"):
            raise GuardRefusal("Frozen.")

    register_guard(frozen)
    try:
        with pytest.raises(GuardRefusal):
            actions.do_update_record(account, {"name": "Renamed"}, version=1, actor=admin_user)
        with pytest.raises(GuardRefusal):
            actions.do_change_owner(account, standard_user.pk, version=version_of(account), actor=admin_user)
    finally:
        unregister_guard(frozen)
    refused = TimelineEntry.objects.filter(record_id=account.pk, kind="refused").order_by("pk")
    assert [e.changes["action"][1] for e in refused] == ["update", "change_owner"]  # once each
    assert refused.first().changes["reason"] == [None, "Frozen."]
    stored = type(account).objects.get(pk=account.pk)
    assert (stored.name, stored.owner_id) == ("Guarded", admin_user.pk)
