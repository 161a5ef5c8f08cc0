from django.db import migrations


def fill_import(apps, schema_editor):
    """Importing now asks the profile's "import" switch (it asked "create" before): a row of a
    profile that names "create" but not "import" gets "import" as "create" was, so whoever could
    import before still can."""
    Profile = apps.get_model("access", "Profile")
    for profile in Profile.objects.all().iterator():
        permissions = profile.permissions or {}
        changed = False
        for row in permissions.values():
            if isinstance(row, dict) and "create" in row and "import" not in row:
                row["import"] = bool(row["create"])
                changed = True
        if changed:
            profile.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("access", "0009_user_name_sort")]
    operations = [migrations.RunPython(fill_import, migrations.RunPython.noop)]
