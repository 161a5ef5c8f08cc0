"""Index the sessions that were logged in before the index existed, so that "Sign out
everywhere" and a person's list of sessions find them too (one pass over the live sessions)."""
from django.db import migrations
from django.utils import timezone

BATCH = 2000


def index_sessions(apps, schema_editor):
    from django.contrib.sessions.backends.db import SessionStore

    Session = apps.get_model("sessions", "Session")
    UserSession = apps.get_model("security", "UserSession")
    User = apps.get_model("access", "User")
    decoder = SessionStore()
    now = timezone.now()
    batch = []
    for key, data in Session.objects.filter(expire_date__gt=now).values_list("session_key", "session_data").iterator(
            chunk_size=BATCH):
        user_id = str(decoder.decode(data).get("_auth_user_id") or "")
        if user_id.isdigit():
            batch.append((key, int(user_id)))
        if len(batch) >= BATCH:
            _write(User, UserSession, batch, now)
            batch = []
    _write(User, UserSession, batch, now)


def _write(User, UserSession, batch, now):
    users = set(User.objects.filter(pk__in={user_id for _key, user_id in batch}).values_list("pk", flat=True))
    UserSession.objects.bulk_create([UserSession(session_key=key, user_id=user_id, created_at=now)
                                     for key, user_id in batch if user_id in users], ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("security", "0001_initial"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(index_sessions, migrations.RunPython.noop)]
