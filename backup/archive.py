"""The organisation archive: a zip file holding

- manifest.json: the format and its version, when and from which organisation it was written,
  per table its file and row count, the content types and permissions its ids refer to;
- users.jsonl: the public profile of every user the organisation's rows name (no password);
- tables/<app>.<model>.jsonl: one JSON object per row, by column (`owner_id`), in id order;
- files/<sha256>: each stored file once, by the checksum of its bytes.

Rows are written and read one at a time, so memory stays flat in the number of rows.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
import zipfile
import zlib
from typing import Any, Iterator

from django.utils.translation import gettext as _

FORMAT = "teamcrm-organisation"
VERSION = 1
MANIFEST = "manifest.json"
USERS = "users.jsonl"


class ArchiveError(Exception):
    """The archive cannot be restored: the message says why (and where)."""


class Encoder(json.JSONEncoder):
    def default(self, value: Any) -> Any:
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        return super().default(value)


def dumps(value: Any) -> str:
    return json.dumps(value, cls=Encoder, ensure_ascii=False, separators=(",", ":"))


def table_file(label: str) -> str:
    return f"tables/{label}.jsonl"


def file_name(checksum: str) -> str:
    return f"files/{checksum}"


def open_archive(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ArchiveError(_("No file at %(path)s.") % {"path": path})
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(_("%(path)s is not an organisation archive (not a readable zip file: %(reason)s).")
                           % {"path": path, "reason": exc})


def read_manifest(archive: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise ArchiveError(_("The archive has no manifest.json: it is not an organisation archive."))
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(_("The archive's manifest.json cannot be read: %(reason)s") % {"reason": exc})
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(_("The archive is not an organisation archive (unknown format)."))
    if manifest.get("version") != VERSION:
        raise ArchiveError(_("The archive has format version %(found)s; this installation reads version %(wanted)s.")
                           % {"found": manifest.get("version"), "wanted": VERSION})
    for key in ("organisation", "tables", "content_types", "permissions"):
        if not isinstance(manifest.get(key), dict):
            raise ArchiveError(_("The archive's manifest.json lacks “%(key)s”.") % {"key": key})
    return manifest


def rows(archive: zipfile.ZipFile, name: str) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each line of a JSON-lines member, read as a stream."""
    try:
        member = archive.open(name)
    except KeyError:
        raise ArchiveError(_("The archive lacks %(name)s, which its manifest lists.") % {"name": name})
    with member:
        try:
            for number, line in enumerate(member, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ArchiveError(_("%(name)s, line %(line)d: not JSON (%(reason)s).")
                                       % {"name": name, "line": number, "reason": exc})
                if not isinstance(row, dict):
                    raise ArchiveError(_("%(name)s, line %(line)d: not a row.") % {"name": name, "line": number})
                yield number, row
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:  # a damaged member fails its checksum
            raise ArchiveError(_("%(name)s cannot be read: %(reason)s") % {"name": name, "reason": exc})
