"""The org configuration audit log: written by the configuration actions (one helper,
`access.audit.record`), read, filtered and exported by administrators only, and never changed
or deleted through the app."""
from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.utils import translation
from django.urls import get_resolver, reverse
from django.utils import timezone

from access import actions as access_actions
from access import audit
from access import sharing_actions as sa
from access.context import request_id_var
from access.models import AuditEntry
from locking import actions as locking
from teams import actions as team_actions
from teams.models import TeamMember

from .test_sharing_settings import ACTIONS, chart  # noqa: F401  (the shared org chart fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    """Switching a user's language activates it in this thread: later tests expect English."""
    yield
    translation.activate("en")
Event = AuditEntry.Event
STATUSES = [{"value": "open", "label_en": "Open"}, {"value": "done", "label_en": "Done"}]
WON = {"all": [{"field": "stage", "op": "eq", "value": "won"}]}


def events(org) -> list[str]:
    return list(AuditEntry.objects.filter(org=org).order_by("pk").values_list("event", flat=True))


# --- the writers -----------------------------------------------------------------------------------

SHARING_EVENTS = {
    "clone_profile": Event.PROFILE_CREATED, "update_profile": Event.PROFILE_CHANGED,
    "set_profile_permissions": Event.PROFILE_PERMISSIONS_CHANGED,
    "set_profile_field_levels": Event.PROFILE_FIELD_LEVELS_CHANGED, "delete_profile": Event.PROFILE_DELETED,
    "set_user_profile": Event.USER_PROFILE_CHANGED, "create_role": Event.ROLE_CREATED,
    "rename_role": Event.ROLE_RENAMED, "move_role": Event.ROLE_MOVED, "delete_role": Event.ROLE_DELETED,
    "set_user_role": Event.USER_ORG_ROLE_CHANGED, "create_group": Event.GROUP_CREATED,
    "update_group": Event.GROUP_CHANGED, "delete_group": Event.GROUP_DELETED,
    "create_sharing_rule": Event.SHARING_RULE_CREATED, "delete_sharing_rule": Event.SHARING_RULE_DELETED,
}


@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_sharing_change_is_logged_with_its_actor(chart, name):  # noqa: F811
    before = AuditEntry.objects.filter(org=chart.org).count()
    ACTIONS[name](chart, chart.admin)
    entry = AuditEntry.objects.filter(org=chart.org).order_by("pk").last()
    assert AuditEntry.objects.filter(org=chart.org).count() > before
    assert entry.event == SHARING_EVENTS[name]
    assert entry.actor == chart.admin and entry.actor_name == str(chart.admin)


def test_a_refused_change_logs_nothing(chart, standard_user):  # noqa: F811
    before = AuditEntry.objects.count()
    with pytest.raises(Exception):
        sa.do_rename_role(chart.roles["Rep"], "Boss", actor=standard_user)
    assert AuditEntry.objects.count() == before


def test_an_entry_keeps_only_what_changed_and_nothing_when_nothing_did(chart):  # noqa: F811
    sa.do_rename_role(chart.roles["Rep"], "Account executive", actor=chart.admin)
    entry = AuditEntry.objects.filter(org=chart.org).latest("pk")
    assert (entry.object_type, entry.object_id, entry.object_name) == (
        "access.orgrole", str(chart.roles["Rep"].pk), "Account executive")
    assert (entry.old_value, entry.new_value) == ({"name": "Rep"}, {"name": "Account executive"})
    count = AuditEntry.objects.count()
    sa.do_rename_role(chart.roles["Rep"], "Account executive", actor=chart.admin)
    assert AuditEntry.objects.count() == count


def test_org_defaults_users_and_public_fields_are_logged(org, admin_user, standard_user):
    access_actions.do_set_org_default(org, "accounts", "private", actor=admin_user)
    access_actions.do_set_membership_active(standard_user.membership, False, actor=admin_user)
    access_actions.do_set_membership_role(standard_user.membership, "admin", actor=admin_user)
    access_actions.do_set_team_modules_admin(standard_user.membership, True, actor=admin_user)
    access_actions.do_set_public_fields(org, "accounts", ["name"], actor=admin_user, known_field_keys=["name"])
    assert events(org)[-5:] == [Event.ORG_DEFAULT_CHANGED, Event.USER_DEACTIVATED, Event.USER_ROLE_CHANGED,
                                Event.USER_TEAM_MODULES_ADMIN, Event.PUBLIC_FIELDS_CHANGED]
    owd = AuditEntry.objects.get(org=org, event=Event.ORG_DEFAULT_CHANGED)
    assert (owd.object_id, owd.new_value) == ("accounts", {"level": "private"})


def test_team_configuration_is_logged(org, admin_user, make_user):
    manager, member, requester = (make_user(org, username=name) for name in ("mgr", "mem", "req"))
    space = team_actions.do_create_space(org, name_en="Marketing", manager_ids=[manager.pk], actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Briefs", statuses=STATUSES, actor=manager)
    team_actions.do_update_team_module(module, name_en="Briefs", name_singular_en="Brief", statuses=STATUSES,
                                       actor=manager)
    team_actions.do_set_team_member(space, member.pk, TeamMember.Role.MEMBER, actor=manager)
    team_actions.do_remove_team_member(space, member.pk, actor=manager)
    team_actions.do_set_requesters(module, [requester.pk], actor=manager)
    team_actions.do_set_team_module_retired(module, True, actor=manager)
    assert events(org)[-7:] == [Event.TEAM_SPACE_CREATED, Event.TEAM_MODULE_CREATED, Event.TEAM_MODULE_CHANGED,
                           Event.TEAM_MEMBER_SET, Event.TEAM_MEMBER_REMOVED, Event.REQUESTERS_CHANGED,
                           Event.TEAM_MODULE_RETIRED]
    changed = AuditEntry.objects.get(org=org, event=Event.TEAM_MODULE_CHANGED)
    assert changed.old_value == {"name_singular_en": "Briefs"} and changed.new_value == {"name_singular_en": "Brief"}
    assert AuditEntry.objects.get(org=org, event=Event.REQUESTERS_CHANGED).new_value == {"users": [requester.pk]}


def test_locking_configuration_is_logged(org, admin_user):
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    rule = locking.do_create_lock_rule(org, "deals", name="Closed deals", criteria=WON, actor=admin_user)
    locking.do_update_lock_rule(rule, name="Won deals", criteria=WON, actor=admin_user)
    lock = locking.do_save_field_lock(org, "deals", name="Amounts", fields=["amount"], locked_for="all",
                                      actor=admin_user)
    locking.do_delete_field_lock(lock, actor=admin_user)
    locking.do_delete_lock_rule(rule, actor=admin_user)
    assert events(org)[-6:] == [Event.LOCK_SETTINGS_CHANGED, Event.LOCK_RULE_CREATED, Event.LOCK_RULE_CHANGED,
                           Event.FIELD_LOCK_SAVED, Event.FIELD_LOCK_DELETED, Event.LOCK_RULE_DELETED]
    renamed = AuditEntry.objects.get(org=org, event=Event.LOCK_RULE_CHANGED)
    assert (renamed.old_value, renamed.new_value) == ({"name": "Closed deals"}, {"name": "Won deals"})


def test_entries_carry_the_request_id_and_keep_the_actors_name(chart):  # noqa: F811
    token = request_id_var.set("req-123")
    try:
        sa.do_rename_role(chart.roles["Rep"], "Seller", actor=chart.admin)
    finally:
        request_id_var.reset(token)
    entry = AuditEntry.objects.filter(org=chart.org).latest("pk")
    assert entry.request_id == "req-123"
    name = str(chart.admin)
    chart.admin.first_name = "Renamed"
    chart.admin.save()
    entry.refresh_from_db()
    assert entry.actor_name == name


def test_a_request_writes_its_id_on_the_entry(chart, client_for):  # noqa: F811
    response = client_for(chart.admin).post(reverse("sharing_role", args=[chart.roles["Rep"].pk]),
                                            {"op": "rename", "name": "Seller"}, HTTP_X_REQUEST_ID="abc-42")
    assert response.status_code in (200, 302)
    assert AuditEntry.objects.filter(org=chart.org, event=Event.ROLE_RENAMED, request_id="abc-42").exists()


# --- append-only -----------------------------------------------------------------------------------

def test_entries_cannot_be_changed_or_deleted(chart):  # noqa: F811
    entry = AuditEntry.objects.filter(org=chart.org).first()
    entry.object_name = "forged"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(org=chart.org).update(object_name="forged")
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(org=chart.org).delete()
    assert not AuditEntry.objects.filter(object_name="forged").exists()


def test_the_app_has_no_view_that_edits_or_deletes_entries(chart, client_for):  # noqa: F811
    names = {p.name for p in get_resolver().url_patterns for p in getattr(p, "url_patterns", [p])
             if getattr(p, "name", None) and "audit" in p.name}
    assert names == {"audit_log", "audit_log_export"}
    entry = AuditEntry.objects.filter(org=chart.org).first()
    client = client_for(chart.admin)
    for name in names:
        for method in (client.post, client.put, client.delete, client.patch):
            assert method(reverse(name), {"pk": entry.pk}).status_code == 405
    entry.refresh_from_db()


def test_a_deleted_user_leaves_their_entries_with_their_name(chart, make_user):  # noqa: F811
    from access.models import Membership

    helper = make_user(chart.org, username="temp-admin", role="admin")
    sa.do_rename_role(chart.roles["Rep"], "Seller", actor=helper)
    Membership.objects.filter(user=helper).delete()
    helper.delete()
    entry = AuditEntry.objects.filter(org=chart.org).latest("pk")
    assert entry.actor is None and entry.actor_name == str(helper)


# --- the page --------------------------------------------------------------------------------------

def test_only_administrators_open_the_log(chart, standard_user, client_for):  # noqa: F811
    assert client_for(chart.admin).get(reverse("audit_log")).status_code == 200
    for name in ("audit_log", "audit_log_export"):
        assert client_for(standard_user).get(reverse(name)).status_code in (403, 404)
        assert client_for(chart.users["ceo"]).get(reverse(name)).status_code in (403, 404)


def test_the_settings_navigation_links_the_log(chart, standard_user, client_for):  # noqa: F811
    url = reverse("audit_log")
    assert f'href="{url}"' in client_for(chart.admin).get(reverse("sharing_roles")).content.decode()
    assert f'href="{url}"' not in client_for(standard_user).get(reverse("home"), follow=True).content.decode()


def test_admins_see_only_their_own_orgs_entries(chart, other_org_user, client_for):  # noqa: F811
    sa.do_create_role(other_org_user.org, name="Globex secret role", actor=other_org_user)
    body = client_for(chart.admin).get(reverse("audit_log")).content.decode()
    assert "Reps to auditors" in body and "Globex secret role" not in body
    other = client_for(other_org_user).get(reverse("audit_log")).content.decode()
    assert "Globex secret role" in other and "Reps to auditors" not in other


def test_filters_by_event_actor_date_and_object(chart, make_user, client_for):  # noqa: F811
    second = make_user(chart.org, username="second-admin", role="admin")
    sa.do_rename_role(chart.roles["Rep"], "Seller", actor=second)
    client = client_for(chart.admin)
    url = reverse("audit_log")

    def shown(**params) -> set[str]:
        response = client.get(url, params)
        assert response.status_code == 200
        return set(response.context["entries"] and [e.event for e in response.context["entries"]])

    assert shown(event=Event.ROLE_RENAMED) == {Event.ROLE_RENAMED}
    assert shown(actor=second.pk) == {Event.ROLE_RENAMED}
    assert Event.GROUP_CREATED in shown(actor=chart.admin.pk) and Event.ROLE_RENAMED not in shown(actor=chart.admin.pk)
    assert shown(object_type="access.orgrole", object_id=chart.roles["Rep"].pk) == {Event.ROLE_CREATED,
                                                                                    Event.ROLE_RENAMED}
    assert shown(q="auditors") == {Event.GROUP_CREATED, Event.SHARING_RULE_CREATED}
    today = timezone.localdate()
    assert shown(since=today.isoformat(), until=today.isoformat())
    assert shown(until=(today - datetime.timedelta(days=1)).isoformat()) == set()
    bad = client.get(url, {"since": "yesterday", "actor": "x", "event": "nope", "q": "x" * 500})
    assert bad.status_code == 400 and not bad.context["entries"]
    assert client.get(url, {"q": "a\x00b"}).status_code == 400
    assert client.get(reverse("audit_log_export"), {"since": "2026-13-45"}).status_code == 400


def test_the_log_pages_without_counting(chart, client_for):  # noqa: F811
    for n in range(55):
        audit.record(chart.org, Event.GROUP_CHANGED, actor=chart.admin, object_type="access.group",
                     object_id=n, object_name=f"g{n}", new={"n": n})
    client = client_for(chart.admin)
    first = client.get(reverse("audit_log"), {"event": Event.GROUP_CHANGED})
    assert len(first.context["entries"]) == 50 and first.context["has_older"]
    assert "event=group.changed&amp;page=2" in first.content.decode()
    second = client.get(reverse("audit_log"), {"event": Event.GROUP_CHANGED, "page": 2})
    assert len(second.context["entries"]) == 5 and not second.context["has_older"]
    assert client.get(reverse("audit_log"), {"page": "99999999999999999999"}).status_code == 200


def test_the_export_is_filtered_and_escapes_formulas(chart, client_for):  # noqa: F811
    sa.do_create_group(chart.org, name="=HYPERLINK(\"http://evil\")", actor=chart.admin)
    response = client_for(chart.admin).get(reverse("audit_log_export"), {"event": Event.GROUP_CREATED})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Time", "Who", "Event"]
    names = [row[5] for row in rows[1:]]
    assert sorted(names) == sorted(["Auditors", "'=HYPERLINK(\"http://evil\")"])
    assert all(row[2] == "Group created" for row in rows[1:])


def test_the_page_speaks_chinese(chart, client_for):  # noqa: F811
    client = client_for(chart.admin)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    body = client.get(reverse("audit_log")).content.decode()
    assert "审计日志" in body and "已创建共享规则" in body


def test_custom_field_changes_are_logged(org, admin_user):
    from crm.actions import do_create_field, do_move_field, do_set_field_retired, do_update_field

    first = do_create_field(org, "accounts", api_name="tier", label_en="Tier", field_type="text", actor=admin_user)
    do_create_field(org, "accounts", api_name="region", label_en="Region", field_type="text", actor=admin_user)
    do_update_field(first, label_en="Customer tier", actor=admin_user)
    do_set_field_retired(first, True, actor=admin_user)
    do_set_field_retired(first, False, actor=admin_user)
    do_move_field(first, 1, actor=admin_user)
    assert events(org)[-6:] == [Event.FIELD_CREATED, Event.FIELD_CREATED, Event.FIELD_CHANGED, Event.FIELD_RETIRED,
                                Event.FIELD_RESTORED, Event.FIELD_MOVED]
    changed = AuditEntry.objects.get(org=org, event=Event.FIELD_CHANGED)
    assert (changed.object_type, changed.old_value, changed.new_value) == (
        "crm.fielddefinition", {"label_en": "Tier"}, {"label_en": "Customer tier"})
