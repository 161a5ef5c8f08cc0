"""Import helpers: upload a file of the corpus (tests/data/imports/) as a person would, map it,
look at the dry run, confirm. Tests run Celery eagerly (the worker test aside), so each step's
job has run by the time the page answers."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports.models import ImportJob

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"


def upload(client, module: str, name: str, content: bytes | None = None, encoding: str = ""):
    content = (DATA / name).read_bytes() if content is None else content
    return client.post(reverse("imports:start", args=[module]),
                       {"file": SimpleUploadedFile(name, content), "encoding": encoding})


def latest_job() -> ImportJob:
    return ImportJob.objects.latest("pk")


def mapping_data(job: ImportJob, columns: dict | None = None, **options) -> dict:
    columns = job.mapping if columns is None else columns
    data = {f"column_{i}": columns.get(str(i), "") for i in range(len(job.headers))}
    data.update({"duplicates": job.duplicates, "match_fields": job.match_fields,
                 "day_first": "1" if job.day_first else "0"})
    if job.all_or_nothing:
        data["all_or_nothing"] = "on"
    data.update(options)
    return data


def dry_run(client, job: ImportJob, columns: dict | None = None, **options):
    """Post the mapping (the job's automatic one unless `columns` is given): the dry run runs."""
    response = client.post(reverse("imports:mapping", args=[job.pk]), mapping_data(job, columns, **options))
    job.refresh_from_db()
    return response


def confirm(client, job: ImportJob):
    response = client.post(reverse("imports:confirm", args=[job.pk]))
    job.refresh_from_db()
    return response


def job_page(client, job: ImportJob) -> str:
    return client.get(reverse("imports:job", args=[job.pk])).content.decode()


def outcomes(job: ImportJob) -> dict[int, tuple[str, str]]:
    """The dry run's preview: row -> (outcome, reason)."""
    return {item["row"]: (item["outcome"], item["reason"]) for item in job.preview}


def import_file(client, module: str, name: str, content: bytes | None = None, columns: dict | None = None,
                **options) -> ImportJob:
    """Upload, dry run and confirm: the finished job."""
    response = upload(client, module, name, content)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = latest_job()
    dry_run(client, job, columns, **options)
    assert job.status == ImportJob.Status.CHECKED, job.error
    confirm(client, job)
    return job


@pytest.fixture
def sam(standard_user, client_for):
    return client_for(standard_user)
