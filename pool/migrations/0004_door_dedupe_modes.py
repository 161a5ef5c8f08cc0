"""Dedupe at the door: the setting moves from a pool's recycling rules to the pool, with four
choices; the old "link" (which refused, naming the existing record) becomes "refuse". Pairs let
in as possible duplicates are kept in PossibleDuplicate."""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def copy_setting(apps, schema_editor):
    Pool = apps.get_model("pool", "Pool")
    RecyclePolicy = apps.get_model("pool", "RecyclePolicy")
    off = RecyclePolicy.objects.filter(dedupe="off").values("pool_id")
    Pool.objects.filter(pk__in=off).update(dedupe="off")  # the rest keep the default, "refuse"


def copy_back(apps, schema_editor):
    Pool = apps.get_model("pool", "Pool")
    RecyclePolicy = apps.get_model("pool", "RecyclePolicy")
    RecyclePolicy.objects.filter(pool__in=Pool.objects.filter(dedupe="off")).update(dedupe="off")


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0010_profile_import_permission'),
        ('pool', '0003_poolmove_coded_reason'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='pool',
            name='dedupe',
            field=models.CharField(choices=[('refuse', 'Refuse it, naming the existing record'), ('merge', 'Merge it into the existing record'), ('link', 'Let it in, marked as a possible duplicate'), ('off', 'Let it in (no check)')], default='refuse', max_length=10, verbose_name='duplicates at the door'),
        ),
        migrations.RunPython(copy_setting, copy_back),
        migrations.RemoveField(
            model_name='recyclepolicy',
            name='dedupe',
        ),
        migrations.CreateModel(
            name='PossibleDuplicate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('module', models.CharField(max_length=20)),
                ('record_id', models.BigIntegerField()),
                ('other_id', models.BigIntegerField()),
                ('fields', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=40), default=list, size=None)),
                ('path', models.CharField(default='page', max_length=50)),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('org', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='access.organization')),
                ('pool', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='pool.pool')),
            ],
            options={
                'indexes': [models.Index(fields=['org', 'module', 'other_id'], name='possibleduplicate_other')],
                'constraints': [models.UniqueConstraint(fields=('org', 'module', 'record_id', 'other_id'), name='uniq_possible_duplicate')],
            },
        ),
    ]
