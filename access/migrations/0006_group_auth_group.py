import uuid

import django.db.models.deletion
from django.db import migrations, models


def add_twins(apps, schema_editor):
    """Each group gets the hidden auth group that guardian's group permissions name."""
    Group = apps.get_model("access", "Group")
    AuthGroup = apps.get_model("auth", "Group")
    for group in Group.objects.filter(auth_group__isnull=True):
        group.auth_group = AuthGroup.objects.create(name=f"org-{group.org_id}-group-{uuid.uuid4().hex}")
        group.save(update_fields=["auth_group"])


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0005_default_profiles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AddField(
            model_name="group",
            name="auth_group",
            field=models.OneToOneField(editable=False, null=True, on_delete=django.db.models.deletion.CASCADE,
                                       related_name="org_group", to="auth.group"),
        ),
        migrations.RunPython(add_twins, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="group",
            name="auth_group",
            field=models.OneToOneField(editable=False, on_delete=django.db.models.deletion.CASCADE,
                                       related_name="org_group", to="auth.group"),
        ),
    ]
