"""An import run by a real Celery worker on the real Redis (not eager): the dry run and the run
are queued by the pages, the page polls the progress, and the report and records are there."""
from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Lead, TimelineEntry
from imports.models import ImportJob
from tests.automation.test_assignment_workers import broker, queue, start_worker, wait_for  # noqa: F401
from tests.imports.conftest import latest_job, mapping_data, upload

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 120


def status_of(job: ImportJob) -> str:
    job.refresh_from_db()
    return job.status


@pytest.fixture
def shared_media(settings, monkeypatch):
    """The worker reads the uploaded file where the test's web side stored it (set before the
    worker fixture reads the environment)."""
    monkeypatch.setenv("MEDIA_ROOT", str(settings.MEDIA_ROOT))


def test_a_worker_runs_the_dry_run_and_the_import(shared_media, standard_user, client_for,
                                                  start_worker):  # noqa: F811
    start_worker(concurrency=1)
    client = client_for(standard_user)
    content = "Last name,Company,Email\n" + "".join(f"Lead {i},Co {i},lead{i}@example.test\n" for i in range(450))
    assert upload(client, "leads", "event.csv", content.encode()).status_code == 302
    job = latest_job()
    response = client.post(reverse("imports:mapping", args=[job.pk]), mapping_data(job))
    assert response.status_code == 302
    polled = client.get(reverse("imports:job", args=[job.pk]), headers={"HX-Request": "true"})
    assert 'id="import-progress"' in polled.content.decode()  # the part the page polls
    assert wait_for(lambda: status_of(job) == ImportJob.Status.CHECKED, WAIT), job.error
    assert job.expected == {"created": 450, "updated": 0, "skipped": 0, "failed": 0}
    assert not Lead.objects.exists()

    client.post(reverse("imports:confirm", args=[job.pk]))
    assert wait_for(lambda: status_of(job) == ImportJob.Status.DONE, WAIT), job.error
    assert (job.created_count, job.failed_count, job.rows_done) == (450, 0, 451)
    assert Lead.objects.count() == 450
    assert TimelineEntry.objects.filter(kind="created", path="import").count() == 450
    page = client.get(reverse("imports:job", args=[job.pk]), headers={"HX-Request": "true"}).content.decode()
    assert "450 created, 0 updated, 0 skipped, 0 failed." in page and "hx-trigger" not in page
