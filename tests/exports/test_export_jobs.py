"""A list longer than EXPORT_DIRECT_MAX_ROWS is exported by a background job: its page shows the
progress, then a download link for the member who started it alone (anyone else, an
administrator of the same org included, gets 404), until the link expires; then the page says
so and the periodic job deletes the file. The export is on the access log once its file is
written. Here the job is run by calling the task (the worker itself: test_export_worker.py)."""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from access.models import PERMISSIONS, AccessLog, Profile
from access.sharing_actions import do_clone_profile, do_set_profile_permissions, do_set_user_profile
from crm import actions as crm_actions
from crm.modules import org_modules
from exports.actions import do_expire_exports
from exports.models import ExportJob
from exports.tasks import purge_expired_exports, run_export_job
from tests.helpers import fresh

pytestmark = pytest.mark.django_db

MODULES = [m.key for m in org_modules()]


@pytest.fixture
def long_list(settings, admin_user):
    """Three accounts, and lists of more than two rows exported by a job."""
    settings.EXPORT_DIRECT_MAX_ROWS = 2
    for name in ("Acme", "=Bad()", "北风"):
        crm_actions.do_create_record("accounts", {"name": name, "city": "Shanghai"}, actor=admin_user)


def start(client, fmt: str = "csv", query: str = "") -> ExportJob:
    response = client.post(reverse("exports:export", args=["accounts"]) + (f"?{query}" if query else ""),
                           {"format": fmt})
    job = ExportJob.objects.latest("pk")
    assert response.status_code == 302 and response["Location"] == reverse("exports:job", args=[job.pk])
    return job


def read(response, fmt: str) -> list[list[str]]:
    content = b"".join(response.streaming_content)
    if fmt == "csv":
        import csv

        return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(content)).active
    return [["" if c.value is None else c.value for c in row] for row in sheet.iter_rows()]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_long_list_is_written_by_a_job_for_its_owner_alone(long_list, admin_user, standard_user, other_user,
                                                             other_org_user, client_for, fmt):
    sam = client_for(standard_user)
    job = start(sam, fmt, "city=shang&sort=name")
    page_url, download_url = reverse("exports:job", args=[job.pk]), reverse("exports:download", args=[job.pk])
    assert not AccessLog.objects.exists()  # nothing has left yet

    page = sam.get(page_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'role="progressbar"' in html and 'hx-trigger="every 1s"' in html  # polls while it runs
    assert sam.get(download_url)["Location"] == page_url  # no file yet: back to the progress

    assert run_export_job(job.pk) == 3
    job.refresh_from_db()
    assert (job.status, job.total, job.processed) == ("done", 3, 3)
    partial = sam.get(page_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="done"' in partial and "hx-trigger" not in partial  # the polling stops
    assert download_url in partial

    response = sam.get(download_url)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    rows = read(response, fmt)
    assert rows[0][0] == "Account name"
    assert sorted(row[0] for row in rows[1:]) == ["'=Bad()", "Acme", "北风"]  # the formula escaped
    log = AccessLog.objects.get()
    assert (log.user_id, log.module, log.count, log.filters) == (standard_user.pk, "accounts", 3,
                                                                 {"city": "shang", "sort": "name"})

    # Nobody else reaches the job or its file: another member, the org's administrator, another org.
    for user in (other_user, admin_user, other_org_user):
        client = client_for(user)
        assert client.get(page_url).status_code == 404
        assert client.get(download_url).status_code == 404
        assert client.get(page_url, HTTP_HX_REQUEST="true").status_code == 404
    assert client_for(standard_user).get(download_url).status_code == 200  # the owner, again


def test_a_short_list_downloads_at_once_without_a_job(long_list, admin_user, client_for, settings):
    settings.EXPORT_DIRECT_MAX_ROWS = 3
    response = client_for(admin_user).post(reverse("exports:export", args=["accounts"]), {"format": "xlsx"})
    assert response.status_code == 200 and not ExportJob.objects.exists()
    assert len(read(response, "xlsx")) == 4


def test_the_job_reads_the_list_as_its_owner_when_it_runs(long_list, admin_user, standard_user, client_for):
    job = start(client_for(standard_user))
    standard = Profile.objects.get(org=admin_user.org, name="Standard")
    profile = do_clone_profile(standard, "No account export", actor=admin_user)
    grid = {scope: {p: True for p in PERMISSIONS} for scope in ["*", *MODULES]}
    grid["accounts"]["export"] = False
    do_set_profile_permissions(profile, grid, actor=admin_user, known_modules=MODULES)
    do_set_user_profile(standard_user.membership, profile, actor=admin_user)

    assert run_export_job(job.pk) is None
    job.refresh_from_db()
    assert job.status == "failed" and not job.file and not AccessLog.objects.exists()
    page = client_for(fresh(standard_user)).get(reverse("exports:job", args=[job.pk])).content.decode()
    assert "You may no longer export this list." in page


def test_a_job_run_twice_writes_one_file_and_one_log(long_list, standard_user, client_for):
    job = start(client_for(standard_user))
    run_export_job(job.pk)
    assert run_export_job(job.pk) is None  # a finished job is left alone
    assert AccessLog.objects.count() == 1 and ExportJob.objects.get().status == "done"


def test_an_expired_link_says_so_and_the_periodic_job_deletes_the_file(long_list, standard_user, client_for):
    sam = client_for(standard_user)
    job = start(sam, "xlsx")
    run_export_job(job.pk)
    job.refresh_from_db()
    path = Path(job.file.path)
    assert path.exists() and str(path).startswith(str(django_settings.MEDIA_ROOT))
    page_url, download_url = reverse("exports:job", args=[job.pk]), reverse("exports:download", args=[job.pk])
    assert job.expires_at - job.finished_at == timedelta(hours=24)

    with time_machine.travel(timezone.now() + timedelta(hours=23), tick=False):
        sam = client_for(standard_user)  # a session of then: an idle one ends after 8 hours
        assert sam.get(download_url).status_code == 200
        assert do_expire_exports() == 0 and path.exists()
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        sam = client_for(standard_user)
        # The link has expired before the periodic job has run: the page says so already.
        for url in (page_url, download_url):
            response = sam.get(url)
            assert response.status_code == 410
            assert "This export has expired" in response.content.decode()
        assert purge_expired_exports() == 1
        assert purge_expired_exports() == 0  # safe to run twice
    assert not path.exists()
    job.refresh_from_db()
    assert job.status == "expired" and not job.file
    response = sam.get(download_url)
    assert response.status_code == 410 and "export it again" in response.content.decode()
    # A month on, the job itself is gone.
    do_expire_exports(timezone.now() + timedelta(days=31))
    assert not ExportJob.objects.filter(pk=job.pk).exists() and sam.get(page_url).status_code == 404


def test_expired_files_are_deleted_by_beat():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["expired-exports"]
    assert schedule["task"] == "exports.tasks.purge_expired_exports" and schedule["schedule"] <= 60 * 60
