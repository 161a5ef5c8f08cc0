"""Build the expression indexes of custom and team fields that have none yet (fields made before
indexes were built for them, builds that failed, or whose job was lost with the broker)."""
from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from access import seal
from crm import field_indexes
from crm.tasks import sync_field_index


class Command(BaseCommand):
    help = "Enqueue (or with --now, run) the index builds of indexable fields whose index is not ready."

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="Build here and now instead of in the worker.")
        parser.add_argument("--all", action="store_true", help="Check ready ones too (a build is idempotent).")

    def handle(self, *args, now: bool = False, all: bool = False, **options):
        fields = field_indexes.indexable_fields()
        if not all:
            fields = fields.exclude(index_state=field_indexes.State.READY)
        pairs = list(fields.order_by("pk").values_list("pk", "org_id"))
        ids = [field_id for field_id, _org in pairs]
        for field_id, org_id in pairs:
            if now:
                try:
                    self.stdout.write(f"field {field_id}: {field_indexes.sync(field_id)}")
                except DatabaseError as exc:
                    field_indexes.mark_failed(field_id, exc)
                    self.stderr.write(f"field {field_id}: failed: {exc}")
            else:
                with seal.bound(org_id):  # the job runs inside the field's org
                    sync_field_index.delay(field_id)
        self.stdout.write(f"{len(ids)} field index(es) {'checked' if now else 'enqueued'}.")
