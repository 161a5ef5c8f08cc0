from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0009_field_index_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="attachment",
            name="field_key",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
    ]
