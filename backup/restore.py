"""Restore an organisation archive (backup.archive) as a new organisation.

The archive is read twice: a first pass checks every table and row against this installation's
models and notes the old ids; then, in one transaction, new ids are reserved from each table's
sequence, users are matched or created, and every table is written in batches, parents first,
with every id remapped (backup.remap). Anything wrong rolls the whole restore back, including
files already copied to storage.

No record action exists for rows that belong to no organisation yet, so this module writes
the rows itself; the restored rows are exactly the ones the actions once wrote."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from contextlib import contextmanager
from typing import Any, Iterator

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, models, transaction
from django.utils.translation import gettext as _

from access.models import Organization, User

from . import archive, registry
from .remap import FIELD_MODEL, IdMap, MissingReference, Remapper, row_plan

BATCH = 1000
logger = logging.getLogger(__name__)


def import_org(path: str, *, name: str | None = None) -> Organization:
    """Restore the archive at `path` as a new organisation (named as in the archive unless
    `name` is given) and return it. Raises ArchiveError, having written nothing, when it cannot."""
    with archive.open_archive(path) as zf:
        manifest = archive.read_manifest(zf)
        tables = _tables_of(manifest)
        maps, fields = _first_pass(zf, manifest, tables)
        users = [row for _number, row in archive.rows(zf, archive.USERS)]
        saved: list[str] = []
        try:
            with transaction.atomic():
                org = Organization.objects.create(name=(name or manifest["organisation"].get("name") or "")[:200])
                remapper = Remapper(
                    org_id=org.pk, maps=maps, users=_match_users(users),
                    content_types=_content_types(manifest), permissions=_permissions(manifest),
                    content_type_labels={int(k): v for k, v in manifest["content_types"].items()}, fields=fields)
                for table in tables:
                    _reserve(table.model, maps[table.label])
                indexed: list[int] = []
                with _keep_timestamps([t.model for t in tables]):
                    for table in tables:
                        _write_table(zf, manifest, table, remapper, saved, indexed)
                with connection.cursor() as cursor:  # foreign keys are checked now, not at commit
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                transaction.on_commit(lambda: _queue_indexes(indexed))
        except MissingReference as exc:
            _forget(saved)
            raise archive.ArchiveError(_("The archive refers to a row it does not hold: %(column)s = %(value)s "
                                         "(%(target)s).") % {"column": exc.column, "value": exc.value,
                                                             "target": exc.target})
        except DatabaseError as exc:
            _forget(saved)
            raise archive.ArchiveError(_("The archive cannot be restored: %(reason)s") % {"reason": exc})
        except BaseException:
            _forget(saved)
            raise
    return org


def _tables_of(manifest: dict) -> list[registry.Table]:
    known = registry.tables()
    names = {t.label for t in known}
    unknown = sorted(set(manifest["tables"]) - names)
    if unknown:
        raise archive.ArchiveError(_("The archive holds tables this installation does not know: %(tables)s.")
                                   % {"tables": ", ".join(unknown)})
    return [t for t in known if t.label in manifest["tables"]]


def _first_pass(zf: zipfile.ZipFile, manifest: dict, tables: list[registry.Table]
                ) -> tuple[dict[str, IdMap], dict[int, tuple[str, str]]]:
    """Check every row's columns and note its id; read the custom fields' types."""
    maps: dict[str, IdMap] = {}
    fields: dict[int, tuple[str, str]] = {}
    for table in tables:
        entry = manifest["tables"][table.label]
        columns = {f.attname for f in table.model._meta.concrete_fields}
        files = {f"{f.attname}__sha256" for f in table.model._meta.concrete_fields if isinstance(f, models.FileField)}
        required = {f.attname for f in table.model._meta.concrete_fields
                    if not f.has_default() and not f.null and not getattr(f, "auto_now", False)
                    and not getattr(f, "auto_now_add", False)}
        ids = maps[table.label] = IdMap()
        count = 0
        for number, row in archive.rows(zf, entry["file"]):
            extra = set(row) - columns - files
            missing = required - set(row)
            if extra or missing:
                raise archive.ArchiveError(
                    _("%(file)s, line %(line)d: the columns do not match this installation's %(table)s "
                      "(unknown: %(extra)s; missing: %(missing)s).")
                    % {"file": entry["file"], "line": number, "table": table.label,
                       "extra": ", ".join(sorted(extra)) or "-", "missing": ", ".join(sorted(missing)) or "-"})
            if not isinstance(row.get("id"), int):
                raise archive.ArchiveError(_("%(file)s, line %(line)d: the row has no id.")
                                           % {"file": entry["file"], "line": number})
            ids.add_old(row["id"])
            if table.label == FIELD_MODEL:
                fields[row["id"]] = (row.get("field_type") or "", row.get("target") or "")
            count += 1
        if count != entry.get("rows"):
            raise archive.ArchiveError(_("%(file)s holds %(found)d rows; the manifest says %(expected)s.")
                                       % {"file": entry["file"], "found": count, "expected": entry.get("rows")})
    return maps, fields


def _match_users(rows: list[dict]) -> dict[int, int]:
    """Archived user id -> this installation's user: the one with the same username, else the same
    e-mail, else a new inactive user without a usable password (an administrator invites them)."""
    by_name = {u.username.lower(): u.pk for u in User.objects.filter(
        username__in=[r.get("username") for r in rows])}
    emails = [r.get("email") for r in rows if r.get("email")]
    by_email: dict[str, int] = {}
    for pk, email in User.objects.filter(email__in=emails).order_by("pk").values_list("pk", "email"):
        by_email.setdefault(email.lower(), pk)
    mapping: dict[int, int] = {}
    for row in rows:
        username = str(row.get("username") or "")
        if not username:
            raise archive.ArchiveError(_("%(file)s: a user without a username.") % {"file": archive.USERS})
        found = by_name.get(username.lower()) or by_email.get(str(row.get("email") or "").lower())
        if found is None:
            user = User.objects.create(
                username=username, email=row.get("email") or "", first_name=row.get("first_name") or "",
                last_name=row.get("last_name") or "", language=row.get("language") or "en", is_active=False,
                password=make_password(None))
            found = by_name[username.lower()] = user.pk
        mapping[int(row["id"])] = found
    return mapping


def _content_types(manifest: dict) -> dict[int, int]:
    here = {f"{ct.app_label}.{ct.model}": ct.pk for ct in ContentType.objects.all()}
    return {int(old): here[name] for old, name in manifest["content_types"].items() if name in here}


def _permissions(manifest: dict) -> dict[int, int]:
    here = {f"{p.content_type.app_label}.{p.codename}": p.pk for p in Permission.objects.select_related("content_type")}
    return {int(old): here[name] for old, name in manifest["permissions"].items() if name in here}


def _reserve(model: type[models.Model], ids: IdMap) -> None:
    """New ids for the table's rows, taken from its own sequence (safe beside other writers)."""
    if not len(ids):
        ids.finish([])
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [model._meta.db_table, model._meta.pk.column, len(ids)])
        ids.finish([value for (value,) in cursor.fetchall()])


@contextmanager
def _keep_timestamps(model_list: list[type[models.Model]]) -> Iterator[None]:
    """Restored rows keep their times: auto_now / auto_now_add are off while they are written."""
    switched = []
    for model in model_list:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                switched.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in switched:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _write_table(zf: zipfile.ZipFile, manifest: dict, table: registry.Table, remapper: Remapper,
                 saved: list[str], indexed: list[int]) -> None:
    model = table.model
    convert = row_plan(model, remapper)
    file_fields = [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
    entry = manifest["tables"][table.label]
    batch: list[models.Model] = []
    for number, row in archive.rows(zf, entry["file"]):
        try:
            values = convert(row)
        except MissingReference as exc:
            raise archive.ArchiveError(
                _("%(file)s, line %(line)d: %(column)s refers to a row the archive does not hold (%(target)s %(value)s).")
                % {"file": entry["file"], "line": number, "column": exc.column, "target": exc.target,
                   "value": exc.value})
        for f in file_fields:
            values[f.attname] = _restore_file(zf, f, row, saved)
        if table.label == "auth.group":
            # Auth group names are unique across the installation: the copy gets its own.
            values["name"] = f"org-{remapper.org_id}-group-{values['id']}"
        instance = model(**values)
        if table.label == FIELD_MODEL:
            _schedule_index(instance, indexed)
        batch.append(instance)
        if len(batch) >= BATCH:
            model._base_manager.bulk_create(batch)
            batch = []
    if batch:
        model._base_manager.bulk_create(batch)


def _schedule_index(definition: Any, indexed: list[int]) -> None:
    """The restored field's expression index is built again (its name follows the new id)."""
    from crm import field_indexes

    wanted = field_indexes.wants_index(definition)
    definition.index_state = field_indexes.State.BUILDING if wanted else field_indexes.State.NONE
    definition.index_error = ""
    if wanted:
        indexed.append(definition.pk)


def _queue_indexes(field_ids: list[int]) -> None:
    """After the commit: the restore stands even when no broker is reachable now; the fields stay
    "building" and `manage.py index_fields` builds them later."""
    from crm.tasks import sync_field_index

    for field_id in field_ids:
        try:
            sync_field_index.delay(field_id)
        except Exception:  # noqa: BLE001 - the broker's many connection errors
            logger.warning("Could not queue the index of field %s; run manage.py index_fields.", field_id)
            return


def _restore_file(zf: zipfile.ZipFile, f: models.FileField, row: dict, saved: list[str]) -> str:
    name = row.get(f.attname) or ""
    checksum = row.get(f"{f.attname}__sha256")
    if not name or not checksum:
        return name  # no file, or one already missing when the archive was written
    try:
        member = zf.open(archive.file_name(checksum))
    except KeyError:
        raise archive.ArchiveError(_("The archive lacks the file %(name)s (%(checksum)s).")
                                   % {"name": name, "checksum": checksum})
    digest = hashlib.sha256()
    with member, tempfile.SpooledTemporaryFile(max_size=8 << 20) as copy:
        for block in iter(lambda: member.read(1 << 20), b""):
            digest.update(block)
            copy.write(block)
        if digest.hexdigest() != checksum:
            raise archive.ArchiveError(_("The file %(name)s in the archive is damaged (its checksum differs).")
                                       % {"name": name})
        copy.seek(0)
        stored = default_storage.save(f.generate_filename(None, os.path.basename(name)), File(copy))
    saved.append(stored)
    return stored


def _forget(saved: list[str]) -> None:
    """Files copied for a restore that rolled back are removed again."""
    for name in saved:
        try:
            default_storage.delete(name)
        except OSError:
            pass
