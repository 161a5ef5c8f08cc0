"""An import run by a real Celery worker on the real Redis (not eager): the dry run and the run
are queued by the pages, the page polls the progress, and the report and records are there; then
its undo, large enough to be a job, runs on the worker too."""
from __future__ import annotations

import pytest
from django.urls import reverse

from crm import actions as crm_actions
from crm.models import Lead, TimelineEntry
from imports import actions
from imports.models import ImportJob
from tests.automation.test_assignment_workers import queue, start_worker  # noqa: F401
from tests.workers import wait_for
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


def test_a_worker_runs_the_dry_run_the_import_and_its_undo(shared_media, standard_user, client_for,
                                                           start_worker, monkeypatch):  # noqa: F811
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

    # A record changed since stays; the other 449 go, in a job (more than an undo in the request).
    changed = Lead.objects.get(last_name="Lead 7")
    crm_actions.do_update_record(changed, {"company": "Changed by hand"}, version=changed.version,
                                 actor=standard_user)
    monkeypatch.setattr(actions, "UNDO_IN_REQUEST", 100)
    assert client.post(reverse("imports:undo", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert job.status in (ImportJob.Status.UNDOING, ImportJob.Status.UNDONE) and job.undo_total == 450
    polled = client.get(reverse("imports:job", args=[job.pk]), headers={"HX-Request": "true"}).content.decode()
    assert "Undoing:" in polled or status_of(job) == ImportJob.Status.UNDONE
    assert wait_for(lambda: status_of(job) == ImportJob.Status.UNDONE, WAIT), job.error
    assert (job.undo_report["deleted"], job.undo_report["refused_count"], job.undo_done) == (449, 1, 450)
    assert job.undo_report["refused"] == [{"row": 9, "record": "Lead 7", "reason": "Changed since the import (Company)."}]
    assert list(Lead.objects.filter(deleted_at__isnull=True).values_list("last_name", flat=True)) == ["Lead 7"]
    assert TimelineEntry.objects.filter(kind="deleted", path="import").count() == 449
    page = client.get(reverse("imports:job", args=[job.pk])).content.decode()
    assert "Undone: 449 records deleted, 0 restored, 1 left as they are." in page

def test_imported_rows_meet_the_assignment_rule_and_the_workflow_rule_as_typed_ones(
        shared_media, admin_user, make_user, client_for, start_worker):  # noqa: F811
    """A file's rows go in through the batch action: a worker then assigns each by the active
    assignment rule and runs the workflow rule on its creation, once per row, as for a lead
    typed in."""
    from automation.models import PendingEvent, RuleRun
    from tests.automation.test_assignment_workers import active_rule, assigned
    from tests.automation.workflow_helpers import make_rule, update

    reps = [make_user(admin_user.org, username=f"rep{i}") for i in range(3)]
    rule = active_rule(admin_user, reps)
    workflow = make_rule(admin_user, "leads", name="Tag source", actions=[update("source", "web")])
    typed = crm_actions.do_create_record("leads", {"last_name": "Typed"}, actor=admin_user)
    client = client_for(admin_user)
    content = "Last name,Email\n" + "".join(f"Lead {i},lead{i}@example.test\n" for i in range(30))
    assert upload(client, "leads", "event.csv", content.encode()).status_code == 302
    job = latest_job()
    client.post(reverse("imports:mapping", args=[job.pk]), mapping_data(job))
    start_worker(concurrency=1)
    assert wait_for(lambda: status_of(job) == ImportJob.Status.CHECKED, WAIT), job.error
    client.post(reverse("imports:confirm", args=[job.pk]))
    assert wait_for(lambda: status_of(job) == ImportJob.Status.DONE, WAIT), job.error
    assert wait_for(lambda: assigned(rule) >= 31 and not PendingEvent.objects.exists(), WAIT)
    leads = list(Lead.objects.all())
    assert len(leads) == 31
    assert {lead.owner_id for lead in leads} == {rep.pk for rep in reps}  # round robin: all three
    assert all(lead.source == "web" for lead in leads)  # the workflow rule, on each
    assert RuleRun.objects.filter(rule_kind="workflow", rule_id=workflow.pk).count() == 31
    imported = TimelineEntry.objects.filter(kind="created", path="import")
    assert imported.count() == 30 and set(imported.values_list("record_id", flat=True)) == {
        lead.pk for lead in leads if lead.pk != typed.pk}
