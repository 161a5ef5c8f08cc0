"""Search indexes: crm_bigrams() for two-character terms (which have no trigram), a bigram GIN
index on every name field, and the missing trigram index on a lead's first name."""

import crm.models
import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


# Every two-character substring of a text; GIN keeps each distinct one once. IMMUTABLE so an index
# can use it; plain SQL so it runs on any stock PostgreSQL (no pg_bigm).
BIGRAMS_SQL = """
CREATE OR REPLACE FUNCTION crm_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ARRAY(SELECT substr(t, i, 2) FROM generate_series(1, char_length(t) - 1) AS i) $$
"""


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0008_auditentry'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('crm', '0007_sort_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(BIGRAMS_SQL, "DROP FUNCTION IF EXISTS crm_bigrams(text)"),
        migrations.AddIndex(
            model_name='account',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('name')), condition=models.Q(('deleted_at__isnull', True)), name='account_name_bigram'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('first_name')), condition=models.Q(('deleted_at__isnull', True)), name='contact_first_bigram'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('last_name')), condition=models.Q(('deleted_at__isnull', True)), name='contact_last_bigram'),
        ),
        migrations.AddIndex(
            model_name='deal',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('name')), condition=models.Q(('deleted_at__isnull', True)), name='deal_name_bigram'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper('first_name'), name='gin_trgm_ops'), name='lead_first_trgm'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('first_name')), condition=models.Q(('deleted_at__isnull', True)), name='lead_first_bigram'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('last_name')), condition=models.Q(('deleted_at__isnull', True)), name='lead_last_bigram'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('company')), condition=models.Q(('deleted_at__isnull', True)), name='lead_company_bigram'),
        ),
        migrations.AddIndex(
            model_name='task',
            index=django.contrib.postgres.indexes.GinIndex(crm.models.Bigrams(django.db.models.functions.text.Upper('subject')), condition=models.Q(('deleted_at__isnull', True)), name='task_subject_bigram'),
        ),
    ]
