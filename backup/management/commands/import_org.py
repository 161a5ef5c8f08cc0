"""manage.py import_org <file>: restore an organisation archive as a new organisation."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from backup.archive import ArchiveError
from backup.restore import import_org


class Command(BaseCommand):
    help = ("Restore an organisation archive (from export_org) as a new organisation. Users are matched by "
            "username, then e-mail; users not found are created inactive, without a usable password.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="The archive written by export_org.")
        parser.add_argument("--name", help="The new organisation's name (default: the archived one).")

    def handle(self, *args, file: str, name: str | None = None, **options):
        try:
            org = import_org(file, name=name)
        except ArchiveError as exc:
            raise CommandError(str(exc))
        self.stdout.write(_("Restored the organisation “%(name)s” with id %(id)d.") % {"name": org.name, "id": org.pk})
