"""Dedupe at the door: partial expression indexes on the normalised phone, e-mail and company
name of the leads and accounts waiting in a pool (`pool.door.door_indexes`), and statistics on
those expressions (so the planner knows a value matches few rows), so comparing records entering
a pool with those waiting costs an index range per value, however large the pool.

Built from the duplicate finder's expressions as they are when this migration runs (the phone's
country is DEDUPE_PHONE_COUNTRY); `manage.py rebuild_door_indexes` builds them again after that
setting or the normalisation changes. Created concurrently: no table lock on a live database."""
from django.db import migrations

MODELS = {"leads": "Lead", "accounts": "Account"}


def create(apps, schema_editor):
    from pool.door import door_indexes, door_statistics

    for module, key, kind, index in door_indexes():
        model = apps.get_model("crm", MODELS[module])
        schema_editor.add_index(model, index, concurrently=True)
        schema_editor.execute(door_statistics(model, key, kind, schema_editor)[1])


def drop(apps, schema_editor):
    from pool.door import door_indexes, door_statistics

    for module, key, kind, index in door_indexes():
        model = apps.get_model("crm", MODELS[module])
        name, _sql = door_statistics(model, key, kind, schema_editor)
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {schema_editor.quote_name(name)}")
        schema_editor.remove_index(model, index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pool", "0004_door_dedupe_modes"),
        ("crm", "0011_pooled_records"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
