"""manage.py export_org <org> <file>: one organisation, whole, to an archive file."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from access.models import Organization
from backup.export import export_org


class Command(BaseCommand):
    help = "Write one organisation (records, configuration, timeline, files, logs) to an archive file."

    def add_arguments(self, parser):
        parser.add_argument("org", help="The organisation's id or exact name.")
        parser.add_argument("file", help="The archive to write (a .zip file).")

    def handle(self, *args, org: str, file: str, **options):
        found = Organization.objects.filter(pk=int(org)) if org.isdigit() else Organization.objects.none()
        if not found.exists():
            found = Organization.objects.filter(name=org)
        if found.count() != 1:
            raise CommandError(_("No single organisation has the id or name “%(org)s”.") % {"org": org}
                               if not found.exists() else
                               _("Several organisations are named “%(org)s”: give the id.") % {"org": org})
        manifest = export_org(found.get(), file)
        rows = sum(t["rows"] for t in manifest["tables"].values())
        self.stdout.write(_("Wrote %(rows)d rows of %(tables)d tables, %(users)d users and %(files)d files to "
                            "%(path)s.") % {"rows": rows, "tables": len(manifest["tables"]),
                                            "users": manifest["users"], "files": manifest["files"], "path": file})
        if manifest["missing_files"]:
            self.stderr.write(_("These files were missing from storage and are not in the archive: %(names)s")
                              % {"names": ", ".join(manifest["missing_files"])})
