import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_waiters(apps, schema_editor):
    """The approvers each awaiting request waits on now, as rows."""
    request_model = apps.get_model("approvals", "ApprovalRequest")
    waiter_model = apps.get_model("approvals", "ApprovalWaiter")
    membership_model = apps.get_model("access", "Membership")
    rows = []
    for request in request_model.objects.filter(status__in=("pending", "delegated")).iterator():
        members = set(membership_model.objects.filter(org_id=request.org_id, user_id__in=request.waiting_on or [])
                      .values_list("user_id", flat=True))
        rows.extend(waiter_model(org_id=request.org_id, request_id=request.pk, user_id=user_id, module=request.module,
                                 record_id=request.record_id) for user_id in sorted(members))
    waiter_model.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0009_user_name_sort'),
        ('approvals', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApprovalWaiter',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('module', models.CharField(max_length=60)),
                ('record_id', models.BigIntegerField()),
                ('org', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='access.organization')),
                ('request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='waiters', to='approvals.approvalrequest')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['org', 'user', 'module', 'record_id'], name='approval_waiter_user')],
                'constraints': [models.UniqueConstraint(fields=('org', 'request', 'user'), name='uniq_approval_waiter')],
            },
        ),
        migrations.RunPython(fill_waiters, migrations.RunPython.noop),
    ]
