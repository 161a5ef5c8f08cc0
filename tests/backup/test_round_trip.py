"""export_org then import_org: the demo organisation comes back as a new organisation equal to the
original, table by table (counts and contents, ids remapped, files by checksum)."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from access.models import Membership, Organization, User
from access.visibility import bind_org
from crm import actions
from crm.models import Attachment, Deal, FieldDefinition, TimelineEntry
from teams.models import TeamModule, TeamRecord

from .compare import Pairing

pytestmark = pytest.mark.django_db


def member(org, username):
    membership = Membership.objects.select_related("org", "profile", "org_role", "user").get(
        org=org, user__username=username)
    return bind_org(membership.user, org, membership)


@pytest.fixture
def zylker():
    """The demo organisation, plus custom fields on deals holding a lookup and a user, and a file."""
    call_command("seed_demo", scale=0.1)
    org = Organization.objects.get(name="Zylker")
    admin, sam = member(org, "admin"), member(org, "sam")
    actions.do_create_field(org, "deals", api_name="partner", label_en="Partner", field_type="lookup",
                            target="accounts", actor=admin)
    actions.do_create_field(org, "deals", api_name="reviewer", label_en="Reviewer", field_type="user", actor=admin)
    deal = Deal.objects.filter(org=org, deleted_at__isnull=True).exclude(stage__in=["won", "lost"]).order_by("pk").first()
    partner = deal.account or actions.do_create_record("accounts", {"name": "Partner Ltd"}, actor=admin)
    keys = {d.api_name: d.key for d in FieldDefinition.objects.filter(org=org, module="deals")}
    deal = actions.do_update_record(deal, {keys["partner"]: partner.pk, keys["reviewer"]: sam.pk},
                                    version=deal.version, actor=admin)
    actions.do_add_attachment(deal, SimpleUploadedFile("brief.txt", "季度计划 plan".encode()), actor=admin)
    return org


def test_a_restored_organisation_equals_the_original(zylker, tmp_path):
    archive = tmp_path / "zylker.zip"
    call_command("export_org", str(zylker.pk), str(archive))
    call_command("import_org", str(archive), name="Zylker restored")
    copy = Organization.objects.get(name="Zylker restored")

    pairing = Pairing(zylker, copy)
    counts = pairing.counts()
    assert {label: n for label, n in counts.items() if n[0] != n[1]} == {}
    # The demo fills the tables a restore is about.
    for label in ("crm.deal", "crm.account", "teams.teamrecord", "crm.timelineentry", "crm.fielddefinition",
                  "crm.attachment", "access.orgrole", "access.sharingrule", "locking.lockrule",
                  "blueprints.blueprint", "blueprints.transition", "approvals.approvalprocess",
                  "reviews.reviewprocess", "automation.workflowrule", "access.auditentry", "access.membership"):
        assert counts[label][0] > 0, label
    assert pairing.differences() == []


def test_ids_inside_values_follow_their_rows(zylker, tmp_path):
    archive = tmp_path / "zylker.zip"
    call_command("export_org", str(zylker.pk), str(archive))
    call_command("import_org", str(archive), name="Copy")
    copy = Organization.objects.get(name="Copy")

    # A deal's custom lookup names the copy's account, its key the copy's field.
    old_keys = {d.api_name: d.key for d in FieldDefinition.objects.filter(org=zylker, module="deals")}
    new_keys = {d.api_name: d.key for d in FieldDefinition.objects.filter(org=copy, module="deals")}
    assert old_keys["partner"] != new_keys["partner"]
    original = Deal.objects.get(org=zylker, **{f"custom__{old_keys['partner']}__isnull": False})
    restored = Deal.objects.get(org=copy, name=original.name, **{f"custom__{new_keys['partner']}__isnull": False})
    old_account = original.account.__class__.objects.get(pk=original.custom[old_keys["partner"]])
    new_account = old_account.__class__.objects.get(pk=restored.custom[new_keys["partner"]])
    assert new_account.org_id == copy.pk and new_account.name == old_account.name
    assert restored.custom[new_keys["reviewer"]] == original.custom[old_keys["reviewer"]]  # same user, reused

    # Team module keys and the team records' lookups of accounts follow too.
    module = TeamModule.objects.get(org=copy, name_en="Case Studies")
    customer = FieldDefinition.objects.get(org=copy, module=module.key, api_name="customer")
    for record in TeamRecord.objects.filter(org=copy, module=module):
        account = new_account.__class__.objects.get(pk=record.data[customer.key])
        assert account.org_id == copy.pk

    # Timeline entries hang off the copy's records; the file came back byte for byte.
    entry = TimelineEntry.objects.filter(org=copy, kind="attachment_added").get()
    assert Deal.objects.get(pk=entry.record_id).org_id == copy.pk
    attachment = Attachment.objects.get(org=copy, name="brief.txt")
    assert attachment.file.read() == "季度计划 plan".encode()
    assert attachment.file.name != Attachment.objects.get(org=zylker, name="brief.txt").file.name

    # A file field's value names the copy's attachment, tied to the copy's field key.
    deliverable = FieldDefinition.objects.get(org=copy, module=module.key, field_type="file")
    with_file = [r for r in TeamRecord.objects.filter(org=copy, module=module) if r.data.get(deliverable.key)]
    assert with_file
    for record in with_file:
        stored = Attachment.objects.get(pk=record.data[deliverable.key]["id"])
        assert (stored.org_id, stored.record_id, stored.field_key) == (copy.pk, record.pk, deliverable.key)
        assert stored.file.read()

    # Users are members of both, not copied.
    assert set(Membership.objects.filter(org=copy).values_list("user__username", flat=True)) == \
        set(Membership.objects.filter(org=zylker).values_list("user__username", flat=True))
    assert User.objects.filter(username="sam").count() == 1


def test_users_missing_here_are_created_inactive_without_a_password(zylker, tmp_path):
    archive = tmp_path / "zylker.zip"
    call_command("export_org", str(zylker.pk), str(archive))
    # Another installation: nobody of Zylker has an account there.
    for user in User.objects.filter(memberships__org=zylker):
        User.objects.filter(pk=user.pk).update(username=f"gone-{user.pk}", email="")
    call_command("import_org", str(archive), name="Elsewhere")
    copy = Organization.objects.get(name="Elsewhere")
    sally = User.objects.get(username="sally")
    assert not sally.is_active and not sally.has_usable_password()
    assert sally.first_name == "Sally" and sally.email == "sally@zylker.example"
    assert Membership.objects.filter(org=copy, user=sally).exists()


def _ids_at(value, parts):
    """The ids at a registry path ("users[]", "*.users[]", "[].users[]") of a JSON value."""
    if not parts:
        return [value]
    part, rest = parts[0], parts[1:]
    name, many = (part[:-2], True) if part.endswith("[]") else (part, False)
    if name == "*":
        inner = list(value.values()) if isinstance(value, dict) else []
    elif name:
        inner = [value.get(name)] if isinstance(value, dict) and name in value else []
    else:
        inner = [value]
    found = []
    for item in inner:
        for each in (item if many and isinstance(item, list) else [] if many else [item]):
            found += _ids_at(each, rest)
    return found


def test_roles_groups_and_profiles_named_inside_settings_are_the_copys(zylker, tmp_path):
    """Lock scopes, review reviewers, approvers, blueprint owners: the ids they list name the copy's
    roles, groups and profiles, with the same names as the original's."""
    from django.apps import apps

    from backup import registry

    archive = tmp_path / "zylker.zip"
    call_command("export_org", str(zylker.pk), str(archive))
    call_command("import_org", str(archive), name="Copy")
    copy = Organization.objects.get(name="Copy")
    pairing = Pairing(zylker, copy)
    checked = 0
    for column, (_kind, paths) in registry.JSON_RULES.items():
        label, name = column.rsplit(".", 1)
        for path, target in paths:
            if target == registry.USERS:
                continue  # users are the same people in both (reused)
            model = apps.get_model(target)
            before, after = pairing.rows[label]
            for a, b in zip(before, after):
                old_ids = _ids_at(a[name], [p for p in path.split(".") if p])
                new_ids = _ids_at(b[name], [p for p in path.split(".") if p])
                old = [str(model.objects.get(pk=i)) for i in old_ids]
                new = [model.objects.get(pk=i) for i in new_ids]
                assert [str(n) for n in new] == old, column
                assert all(n.org_id == copy.pk for n in new), column
                checked += len(new)
    assert checked >= 2
