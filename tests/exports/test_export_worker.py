"""A long export written by a real Celery worker process on the real Redis (not eager mode): the
task travels through the broker by id, the worker writes the file in chunks to the shared media
folder, and the owner follows the progress page and downloads the file; nobody else can.

The worker consumes a queue of this test's own (CELERY_TASK_DEFAULT_QUEUE), as in
tests/automation/test_assignment_workers.py."""
from __future__ import annotations

import io

import pytest
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from access.models import AccessLog
from crm import actions as crm_actions
from exports.models import ExportJob
from tests.workers import celery_worker, database_url, own_queue, redis_or_skip, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 120  # seconds: generous, for a machine busy with other work


@pytest.fixture
def worker(settings, tmp_path):
    """A `celery worker` process on the test database, the test's queue and media folder, reading
    rows 10 at a time."""
    redis_or_skip(settings.CELERY_BROKER_URL)
    with own_queue("export-test", settings.CELERY_BROKER_URL) as queue, \
            celery_worker(queue, settings.CELERY_BROKER_URL, database_url(connection.settings_dict),
                          tmp_path / "worker.log", MEDIA_ROOT=str(settings.MEDIA_ROOT), EXPORT_CHUNK_SIZE="10",
                          CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"]) as process:
        yield process


def test_a_worker_writes_a_long_export_that_only_its_owner_downloads(admin_user, standard_user, other_user,
                                                                     client_for, settings, worker):
    settings.EXPORT_DIRECT_MAX_ROWS = 10
    for n in range(25):
        crm_actions.do_create_record("accounts", {"name": f"Account {n:02d}", "industry": "finance"},
                                     actor=admin_user)
    sam = client_for(standard_user)
    sam.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    response = sam.post(reverse("exports:export", args=["accounts"]) + "?sort=name&columns=industry",
                        {"format": "xlsx"})
    job = ExportJob.objects.get()
    page_url = reverse("exports:job", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == page_url
    page = sam.get(page_url).content.decode()
    assert 'role="progressbar"' in page

    assert wait_for(lambda: ExportJob.objects.get().finished, WAIT), "the worker did not finish the export"
    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.error) == ("done", 25, 25, "")
    partial = sam.get(page_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="done"' in partial and "hx-trigger" not in partial

    download = sam.get(reverse("exports:download", args=[job.pk]))
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(download.streaming_content))).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["客户名称", "行业"]  # written in the language the owner used
    assert rows[1:] == [[f"Account {n:02d}", "金融"] for n in range(25)]
    log = AccessLog.objects.get()
    assert (log.user_id, log.module, log.count) == (standard_user.pk, "accounts", 25)

    for user in (other_user, admin_user):
        assert client_for(user).get(reverse("exports:download", args=[job.pk])).status_code == 404
