"""An archive that cannot be restored says why and writes nothing: no organisation, no user, no file."""
from __future__ import annotations

import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from access.models import Organization, User
from backup import archive
from backup.export import export_org
from crm import actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def good_archive(org, admin_user, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    account = actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    actions.do_add_attachment(account, SimpleUploadedFile("a.txt", b"hello"), actor=admin_user)
    path = tmp_path / "good.zip"
    export_org(org, str(path))
    return path


def rewrite(source, target, change):
    """Copy an archive, letting `change(name, bytes)` alter (or drop, returning None) each member."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
    return target


def refused(path) -> str:
    orgs, users = Organization.objects.count(), User.objects.count()
    with pytest.raises(CommandError) as error:
        call_command("import_org", str(path))
    assert (Organization.objects.count(), User.objects.count()) == (orgs, users)
    return str(error.value)


def test_a_file_that_is_no_zip(tmp_path, db):
    path = tmp_path / "notes.zip"
    path.write_text("just text")
    assert "not an organisation archive" in refused(path)


def test_a_missing_file(tmp_path, db):
    assert "No file at" in refused(tmp_path / "nothing.zip")


def test_an_unknown_format_version(good_archive, tmp_path):
    def newer(name, data):
        if name == archive.MANIFEST:
            manifest = json.loads(data)
            manifest["version"] = 99
            return json.dumps(manifest)
        return data

    message = refused(rewrite(good_archive, tmp_path / "newer.zip", newer))
    assert "format version 99" in message and "version 1" in message


def test_another_kind_of_zip(tmp_path, db):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert "no manifest.json" in refused(tmp_path / "other.zip")


def test_a_row_referring_to_a_missing_row_rolls_everything_back(good_archive, tmp_path, settings):
    def orphan(name, data):
        if name == "tables/crm.attachment.jsonl":
            row = json.loads(data.decode().splitlines()[0])
            row["uploaded_by_id"] = 987654321
            return json.dumps(row) + "\n"
        return data

    media = settings.MEDIA_ROOT
    before = sorted(p.name for p in media.rglob("*") if p.is_file())
    message = refused(rewrite(good_archive, tmp_path / "orphan.zip", orphan))
    assert "tables/crm.attachment.jsonl, line 1" in message and "uploaded_by_id" in message
    assert sorted(p.name for p in media.rglob("*") if p.is_file()) == before  # no file left behind


def test_a_damaged_table(good_archive, tmp_path):
    damaged = rewrite(good_archive, tmp_path / "damaged.zip",
                      lambda name, data: b"{not json\n" if name == "tables/crm.account.jsonl" else data)
    assert "tables/crm.account.jsonl, line 1: not JSON" in refused(damaged)


def test_a_column_this_installation_lacks(good_archive, tmp_path):
    def extra(name, data):
        if name == "tables/crm.account.jsonl":
            row = json.loads(data.decode().splitlines()[0])
            row["colour"] = "red"
            return json.dumps(row) + "\n"
        return data

    message = refused(rewrite(good_archive, tmp_path / "extra.zip", extra))
    assert "crm.account" in message and "colour" in message


def test_a_damaged_file(good_archive, tmp_path):
    damaged = rewrite(good_archive, tmp_path / "file.zip",
                      lambda name, data: b"tampered" if name.startswith("files/") else data)
    assert "damaged" in refused(damaged)
