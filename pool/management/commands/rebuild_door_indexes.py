"""Build the door's indexes and statistics again (`pool.door.door_indexes`): after
DEDUPE_PHONE_COUNTRY or the duplicate finder's normalisation changed, the old ones no longer
match the door's queries."""
from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection

MODELS = {"leads": "Lead", "accounts": "Account"}


class Command(BaseCommand):
    help = "Rebuild the customer pools' dedupe indexes (concurrently) from the current normalisation."

    def handle(self, *args, **options) -> None:
        from pool.door import door_indexes, door_statistics

        with connection.schema_editor(atomic=False) as editor:
            for module, key, kind, index in door_indexes():
                model = apps.get_model("crm", MODELS[module])
                name, create = door_statistics(model, key, kind, editor)
                editor.execute(f"DROP STATISTICS IF EXISTS {editor.quote_name(name)}")
                editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {editor.quote_name(index.name)}")
                editor.add_index(model, index, concurrently=True)
                editor.execute(create)
                editor.execute(f"ANALYZE {editor.quote_name(model._meta.db_table)}")
                self.stdout.write(f"{index.name} rebuilt")
