"""Write one organisation to an archive (backup.archive), reading every table of the registry.

Rows are read straight from the tables, scoped by the organisation, in id order and in chunks:
nothing of another organisation is read, and memory stays flat in the number of rows."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from typing import Any

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.utils import timezone

from access.models import Membership, Organization, User

from . import archive, registry

CHUNK = 2000
USER_FIELDS = ("id", "username", "email", "first_name", "last_name", "language")


def scoped(table: registry.Table, org: Organization) -> models.QuerySet:
    """The table's rows of `org`, whatever the table's kind."""
    manager = table.model._base_manager
    if table.scope == "org":
        return manager.filter(org_id=org.pk)
    if table.scope == "child":
        return manager.filter(**{table.path: org.pk})
    owner_label, column = table.path.rsplit(".", 1)
    owner = next(t for t in registry.tables() if t.label == owner_label)
    return manager.filter(pk__in=owner.model._base_manager.filter(org_id=org.pk).values(column))


def _copy_file(zf: zipfile.ZipFile, name: str, written: set[str]) -> str | None:
    """Store a file's bytes once by checksum; None when the file is missing from storage."""
    digest = hashlib.sha256()
    try:
        with default_storage.open(name, "rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
            checksum = digest.hexdigest()
            if checksum not in written:
                source.seek(0)
                with zf.open(archive.file_name(checksum), "w", force_zip64=True) as target:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        target.write(block)
                written.add(checksum)
    except (FileNotFoundError, OSError):
        return None
    return checksum


def _snapshot() -> None:
    """The transaction sees the database as it was when it began (and writes nothing)."""
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def export_org(org: Organization, path: str) -> dict[str, Any]:
    """Write `org` to a new archive at `path`; return the manifest written."""
    tables = registry.tables()
    manifest: dict[str, Any] = {
        "format": archive.FORMAT, "version": archive.VERSION, "written_at": timezone.now().isoformat(),
        "organisation": {"id": org.pk, "name": org.name, "created_at": org.created_at.isoformat()},
        "tables": {}, "missing_files": [],
        "content_types": {str(ct.pk): f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.all()},
        "permissions": {str(p.pk): f"{p.content_type.app_label}.{p.codename}"
                        for p in Permission.objects.select_related("content_type")},
    }
    user_ids: set[int] = set(Membership.objects.filter(org=org).values_list("user_id", flat=True))
    written: set[str] = set()
    # One snapshot: rows added while the export runs are either all in it or all out of it.
    outermost = not connection.in_atomic_block
    with transaction.atomic(), zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if outermost:
            _snapshot()
        for table in tables:
            columns = [f.attname for f in table.model._meta.concrete_fields]
            user_columns = [f.attname for f in table.model._meta.concrete_fields
                            if isinstance(f, models.ForeignKey) and registry.label(f.related_model) == registry.USER]
            file_columns = [f.attname for f in table.model._meta.concrete_fields if isinstance(f, models.FileField)]
            count = 0
            name = archive.table_file(table.label)
            # The rows go to a temporary file first: a zip takes one member at a time, and the
            # table's files are added while its rows are read.
            with tempfile.TemporaryFile() as out:
                for row in scoped(table, org).order_by("pk").values(*columns).iterator(chunk_size=CHUNK):
                    user_ids.update(row[c] for c in user_columns if row[c] is not None)
                    for column in file_columns:
                        if row[column]:
                            checksum = _copy_file(zf, row[column], written)
                            row[f"{column}__sha256"] = checksum
                            if checksum is None:
                                manifest["missing_files"].append(row[column])
                    out.write((archive.dumps(row) + "\n").encode())
                    count += 1
                out.seek(0)
                with zf.open(name, "w", force_zip64=True) as member:
                    shutil.copyfileobj(out, member, 1 << 20)
            manifest["tables"][table.label] = {"file": name, "rows": count}
        with zf.open(archive.USERS, "w") as out:
            for row in User.objects.filter(pk__in=user_ids).order_by("pk").values(*USER_FIELDS).iterator(CHUNK):
                out.write((archive.dumps(row) + "\n").encode())
        manifest["users"] = len(user_ids)
        manifest["files"] = len(written)
        zf.writestr(archive.MANIFEST, archive.dumps(manifest))
    return manifest
