"""Search indexes on a team record's title: trigrams (three or more characters) and bigrams
(two characters; crm_bigrams() comes from crm 0008)."""

import crm.models
import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0008_auditentry'),
        ('crm', '0008_search_indexes'),
        ('teams', '0004_sort_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='teamrecord',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper('title'), name='gin_trgm_ops'), name='teamrecord_title_trgm'),
        ),
        migrations.AddIndex(
            model_name='teamrecord',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('title')), condition=models.Q(('deleted_at__isnull', True)), name='teamrecord_title_bigram'),
        ),
    ]
