"""Who may import, from both sides: a profile with the "import" and "create" switches on a module
may import into it and sees the "Import" link; one without either is refused and writes nothing. An import,
its records and its error file are never reachable from another organisation, nor by another
(non-administrator) member of the same one."""
from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import PERMISSIONS, Profile
from access.sharing_actions import do_clone_profile, do_set_profile_permissions, do_set_user_profile
from crm import actions
from crm.models import Contact, Lead
from crm.modules import org_modules
from imports.actions import do_upload_import
from imports.models import ImportJob
from tests.helpers import fresh
from tests.imports.conftest import DATA, dry_run, import_file, latest_job, outcomes, upload

pytestmark = pytest.mark.django_db


def without(org, admin_user, user, module: str, *permissions: str):
    """`user` with a profile like Standard but without `permissions` on `module`."""
    profile = do_clone_profile(Profile.objects.get(org=org, name="Standard"), f"No {module}", actor=admin_user)
    modules = [m.key for m in org_modules()]
    grid = {scope: {p: not (scope == module and p in permissions) for p in PERMISSIONS} for scope in ["*", *modules]}
    do_set_profile_permissions(profile, grid, actor=admin_user, known_modules=modules)
    do_set_user_profile(user.membership, profile, actor=admin_user)
    return fresh(user)


def import_link(client, module: str) -> bool:
    page = client.get(reverse("crm:list", args=[module])).content.decode()
    return reverse("imports:start", args=[module]) in page


def test_who_may_create_leads_may_import_them_and_sees_the_link(standard_user, sam):
    assert import_link(sam, "leads")
    assert sam.get(reverse("imports:start", args=["leads"])).status_code == 200
    import_file(sam, "leads", "bom_mixed_headers.csv")
    assert Lead.objects.count() == 2


def test_who_may_not_create_leads_is_refused_and_writes_nothing(org, admin_user, standard_user, client_for):
    user = without(org, admin_user, standard_user, "leads", "create")
    client = client_for(user)
    assert not import_link(client, "leads")
    assert import_link(client, "contacts")  # other modules are still open to them
    assert client.get(reverse("imports:start", args=["leads"])).status_code == 403
    response = upload(client, "leads", "bom_mixed_headers.csv")
    assert response.status_code == 403
    assert not ImportJob.objects.exists() and not Lead.objects.exists()
    with open(DATA / "bom_mixed_headers.csv", "rb") as stream:  # the action refuses as well
        from django.core.exceptions import PermissionDenied
        from crm.modules import get_module

        with pytest.raises(PermissionDenied):
            do_upload_import(get_module("leads").bind(org), stream, actor=user)


def test_who_may_create_leads_but_not_import_them_is_refused_everywhere(org, admin_user, standard_user,
                                                                        client_for):
    user = without(org, admin_user, standard_user, "leads", "import")
    client = client_for(user)
    assert not import_link(client, "leads") and import_link(client, "contacts")
    assert client.get(reverse("crm:create", args=["leads"])).status_code == 200  # creating by hand stays
    assert client.get(reverse("imports:start", args=["leads"])).status_code == 403
    assert upload(client, "leads", "bom_mixed_headers.csv").status_code == 403
    assert not ImportJob.objects.exists() and not Lead.objects.exists()
    from django.core.exceptions import PermissionDenied
    from crm.modules import get_module

    with open(DATA / "bom_mixed_headers.csv", "rb") as stream, pytest.raises(PermissionDenied):
        do_upload_import(get_module("leads").bind(org), stream, actor=user)


def test_the_shipped_read_only_profile_may_not_import_and_standard_may(org, admin_user, standard_user,
                                                                       client_for):
    from access.decisions import decide_module
    from crm.modules import get_module

    leads = get_module("leads").bind(org)
    assert decide_module(standard_user, leads, "import").allowed
    assert decide_module(admin_user, leads, "import").allowed
    do_set_user_profile(standard_user.membership, Profile.objects.get(org=org, name="Read-only"), actor=admin_user)
    reader = fresh(standard_user)
    decision = decide_module(reader, leads, "import")
    assert not decision.allowed and decision.reason == "Your profile does not allow this in Leads."
    assert client_for(reader).get(reverse("imports:start", args=["leads"])).status_code == 403


def test_a_profile_row_without_the_import_switch_takes_it_from_create():
    """The data migration: profiles saved before importing had its own switch import as before."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("access.migrations.0010_profile_import_permission")
    from access.models import Organization

    org = Organization.objects.create(name="Old")
    old = Profile.objects.create(org=org, name="Old", permissions={
        "*": {"view": True, "create": True}, "deals": {"create": False}, "leads": {"view": True}})
    kept = Profile.objects.create(org=org, name="Kept", permissions={"*": {"create": True, "import": False}})
    migration.fill_import(apps, None)
    old.refresh_from_db()
    kept.refresh_from_db()
    assert old.permissions == {"*": {"view": True, "create": True, "import": True},
                               "deals": {"create": False, "import": False}, "leads": {"view": True}}
    assert kept.permissions == {"*": {"create": True, "import": False}}


def test_who_loses_the_right_to_create_after_uploading_cannot_go_on(org, admin_user, standard_user, sam):
    upload(sam, "leads", "bom_mixed_headers.csv")
    job = latest_job()
    dry_run(sam, job)
    without(org, admin_user, standard_user, "leads", "create")
    assert sam.post(reverse("imports:confirm", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED and not Lead.objects.exists()


def test_updating_duplicates_needs_the_right_to_edit(org, admin_user, standard_user, client_for):
    user = without(org, admin_user, standard_user, "leads", "edit")
    client = client_for(user)
    upload(client, "leads", "duplicate_rows.csv")
    job = latest_job()
    response = dry_run(client, job, duplicates="update")
    assert response.status_code == 400 and "Your profile does not allow this in Leads." in response.content.decode()
    assert job.status == ImportJob.Status.UPLOADED
    assert dry_run(client, job, duplicates="skip").status_code == 302  # skipping them is fine


def test_a_lookup_finds_only_records_the_importer_can_see(org, admin_user, standard_user, other_org_user, sam):
    actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    actions.do_create_record("accounts", {"name": "Globex Corp"}, actor=other_org_user)
    content = "Last name,Account\nAda,Acme\nGary,Globex Corp\n".encode()
    job = import_file(sam, "contacts", "contacts.csv", content)
    assert outcomes(job)[2] == ("create", "")
    assert outcomes(job)[3] == ("error", "Account: No record “Globex Corp” that you can see.")
    assert list(Contact.objects.filter(org=org).values_list("last_name", "account__name")) == [("Ada", "Acme")]


def test_another_org_never_reaches_an_import_its_records_or_its_error_file(standard_user, sam, other_org_user,
                                                                          client_for):
    job = import_file(sam, "leads", "ragged_rows.csv")
    globex = client_for(other_org_user)
    for name in ("job", "mapping", "errors"):
        assert globex.get(reverse(f"imports:{name}", args=[job.pk])).status_code == 404
    for name in ("confirm", "undo"):
        assert globex.post(reverse(f"imports:{name}", args=[job.pk])).status_code == 404
    assert "ragged_rows.csv" not in globex.get(reverse("imports:start", args=["leads"])).content.decode()
    # Globex's own duplicate check never sees Acme's leads.
    globex_job = import_file(globex, "leads", "ragged_rows.csv")
    assert globex_job.created_count == 2 and Lead.objects.filter(org=other_org_user.org).count() == 2
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Lead.objects.filter(org=standard_user.org).count() == 2


def test_a_colleague_does_not_see_my_import_and_an_admin_does(standard_user, other_user, admin_user, sam,
                                                              client_for):
    job = import_file(sam, "leads", "ragged_rows.csv")
    olga = client_for(other_user)
    assert olga.get(reverse("imports:job", args=[job.pk])).status_code == 404
    assert olga.get(reverse("imports:errors", args=[job.pk])).status_code == 404
    assert "ragged_rows.csv" not in olga.get(reverse("imports:start", args=["leads"])).content.decode()
    admin = client_for(admin_user)
    assert "ragged_rows.csv" in admin.get(reverse("imports:start", args=["leads"])).content.decode()
    assert admin.get(reverse("imports:errors", args=[job.pk])).status_code == 200


def test_a_field_read_only_for_the_profile_is_not_offered_and_cannot_be_imported(org, admin_user, standard_user,
                                                                                client_for, sam):
    from access.sharing_actions import do_set_profile_field_levels

    profile = do_clone_profile(Profile.objects.get(org=org, name="Standard"), "No e-mail", actor=admin_user)
    do_set_profile_field_levels(profile, "leads", {"email": "read_only"}, actor=admin_user,
                                known_modules=[m.key for m in org_modules()],
                                known_field_keys=["first_name", "last_name", "company", "email", "phone", "status",
                                                  "source"])
    do_set_user_profile(standard_user.membership, profile, actor=admin_user)
    upload(sam, "leads", "bom_mixed_headers.csv")
    job = latest_job()
    assert "3" not in job.mapping  # the E-mail column goes nowhere
    page = sam.get(reverse("imports:mapping", args=[job.pk])).content.decode()
    assert '<option value="email"' not in page and '<option value="company" selected>' in page
    response = dry_run(sam, job, {**job.mapping, "3": "email"}, match_fields=["last_name"])
    assert response.status_code == 400 and job.status == ImportJob.Status.UPLOADED
    assert not Lead.objects.exists()
