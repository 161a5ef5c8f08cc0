import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task runs with the organisation it was published from bound (access.seal_tasks).
app = Celery("config", task_cls="access.seal_tasks:SealedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
