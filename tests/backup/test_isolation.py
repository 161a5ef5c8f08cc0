"""The archive of one organisation holds nothing of another."""
from __future__ import annotations

import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backup import archive
from backup.export import export_org
from crm import actions
from teams import actions as team_actions

pytestmark = pytest.mark.django_db


def fill(user, word):
    """Records, a note, a file, a custom field and a team module, all named after `word`."""
    org = user.org
    account = actions.do_create_record("accounts", {"name": f"{word} account"}, actor=user)
    deal = actions.do_create_record("deals", {"name": f"{word} deal", "account": account.pk}, actor=user)
    actions.do_add_note(deal, f"{word} note", actor=user)
    actions.do_add_attachment(deal, SimpleUploadedFile(f"{word}.txt", f"{word} file".encode()), actor=user)
    actions.do_create_field(org, "deals", api_name=f"{word.lower()}_code", label_en=f"{word} code",
                            field_type="text", actor=user)
    space = team_actions.do_create_space(org, name_en=f"{word} space", manager_ids=[user.pk], actor=user)
    team_actions.do_create_team_module(space, name_en=f"{word} requests", statuses=[{"value": "new"}], actor=user)


def test_an_archive_holds_one_organisation_only(org, admin_user, other_org, other_org_user, tmp_path):
    fill(admin_user, "Acmeword")
    fill(other_org_user, "Globexword")
    path = tmp_path / "acme.zip"
    export_org(org, str(path))

    with zipfile.ZipFile(path) as zf:
        everything = b"".join(zf.read(name) for name in zf.namelist())
        manifest = json.loads(zf.read(archive.MANIFEST))
        users = [json.loads(line) for line in zf.read(archive.USERS).splitlines()]
        org_ids = {json.loads(line)["org_id"] for name, table in manifest["tables"].items()
                   for line in zf.read(table["file"]).splitlines() if "org_id" in json.loads(line)}
    assert b"Acmeword" in everything
    assert b"Globexword" not in everything
    assert org_ids == {org.pk}
    assert "globex-admin" not in {u["username"] for u in users}
    assert "acme-admin" in {u["username"] for u in users}
    # users' public profile only: no password hash, no staff flags
    assert set(users[0]) == {"id", "username", "email", "first_name", "last_name", "language"}
