from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0006_group_auth_group'),
        # manual shares were copied into guardian permission rows first
        ('crm', '0006_manual_shares'),
    ]

    operations = [
        migrations.DeleteModel(
            name='RecordShare',
        ),
    ]
