from django.db import migrations, models
from django.db.models.functions import Lower


def dedupe_and_fill(apps, schema_editor):
    """Give existing modules a singular name (their current name) and make names unique per
    space by numbering the later duplicates, so the unique constraints can be added."""
    TeamModule = apps.get_model("teams", "TeamModule")
    seen: dict[tuple, set] = {}
    for module in TeamModule.objects.order_by("pk"):
        for field in ("name_en", "name_zh"):
            name = getattr(module, field)
            if not name:
                continue
            taken = seen.setdefault((module.space_id, field), set())
            candidate, n = name, 2
            while candidate.lower() in taken:
                candidate = f"{name[:90]} ({n})"
                n += 1
            taken.add(candidate.lower())
            setattr(module, field, candidate)
        module.name_singular_en = module.name_singular_en or module.name_en
        module.name_singular_zh = module.name_singular_zh or module.name_zh
        module.save(update_fields=["name_en", "name_zh", "name_singular_en", "name_singular_zh"])


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0007_remove_recordshare"),
        ("teams", "0002_remove_teamrecord_teamrecord_module_modified_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="teammodule", name="name_singular_en",
            field=models.CharField(blank=True, max_length=100, verbose_name="name of one record (English)"),
        ),
        migrations.AddField(
            model_name="teammodule", name="name_singular_zh",
            field=models.CharField(blank=True, max_length=100, verbose_name="name of one record (Chinese)"),
        ),
        migrations.RunPython(dedupe_and_fill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="teammodule",
            constraint=models.UniqueConstraint("org", "space", Lower("name_en"), name="uniq_teammodule_space_name_en"),
        ),
        migrations.AddConstraint(
            model_name="teammodule",
            constraint=models.UniqueConstraint("org", "space", Lower("name_zh"), condition=~models.Q(name_zh=""),
                                               name="uniq_teammodule_space_name_zh"),
        ),
    ]
