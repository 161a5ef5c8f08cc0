"""An import in the browser, with a real Celery worker, in English and in Chinese: Sam uploads an
event's lead list with one bad row (its column names and statuses in his language), sees his
columns mapped, runs the dry run, confirms, watches the progress bar give way to the report, and
downloads the error file with the bad row and its reason."""
from __future__ import annotations

import csv
import io

import pytest

from access.actions import do_add_user, do_sign_up
from crm.models import Lead
from imports.models import ImportFailure
from tests.automation.test_assignment_workers import queue, start_worker  # noqa: F401
from tests.e2e.browser import expect_labels, login, tr
from tests.imports.test_import_worker import shared_media  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "import-2026"
ROWS = 300  # enough for the import to take a moment on the worker, so its progress bar shows
BAD_ROW = 3  # the file's row 3 (the header is row 1) has a status no lead can have


HEADERS = ("Last name", "Company", "Email", "Status")


def event_file(language: str) -> bytes:
    """The visitors as a person writing `language` lists them: column names and the status in it."""
    new = "新建" if language == "zh-hans" else "New"  # the status's label in that language
    lines = [",".join(tr(language, header) for header in HEADERS)]
    for i in range(ROWS):
        status = "Maybe" if i + 2 == BAD_ROW else new
        lines.append(f"Visitor {i},Booth {i % 40} Ltd,visitor{i}@expo.test,{status}")
    return ("\n".join(lines) + "\n").encode()


def test_upload_map_dry_run_import_and_download_the_error_file(page, live_server, shared_media,  # noqa: F811
                                                               start_worker, language):  # noqa: F811
    from playwright.sync_api import expect

    admin = do_sign_up(org_name="Expo", username="boss", email="boss@expo.test", password=PASSWORD)
    from access.visibility import bind_org

    do_add_user(admin.org, username="sam", email="sam@expo.test", password=PASSWORD, role="standard",
                actor=bind_org(admin.user, admin.org, admin))
    start_worker(concurrency=1)
    base = live_server.url
    login(page, base, "sam", PASSWORD, language)

    # From the Leads list's Import link to the upload form.
    page.goto(f"{base}/m/leads/")
    page.get_by_role("link", name=tr(language, "Import")).first.click()
    page.set_input_files("[data-testid=upload-form] input[type=file]",
                         files=[{"name": "expo-visitors.csv", "mimeType": "text/csv", "buffer": event_file(language)}])
    page.click("[data-testid=upload-form] button")

    # The mapping page: every column found its field by its name.
    form = page.locator("[data-testid=mapping-form]")
    expect(form).to_be_visible()
    for column, field in (("0", "last_name"), ("1", "company"), ("2", "email"), ("3", "status")):
        expect(form.locator(f"select[name=column_{column}]")).to_have_value(field)
    form.get_by_role("button", name=tr(language, "Dry run")).click()

    # The dry run's answer, row by row, with the bad row's reason.
    expect(page.get_by_test_id("import-expected")).to_have_text(tr(
        language, "%(created)s to create, %(updated)s to update, %(skipped)s to skip, %(failed)s failing.",
        created=ROWS - 1, updated=0, skipped=0, failed=1), timeout=30000)
    expect_labels(page.get_by_test_id("import-preview"), language, "Row", "Result", "Reason")
    bad = page.locator("[data-testid=import-preview] tr[data-outcome=error]")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").first).to_have_text(str(BAD_ROW))
    assert not Lead.objects.exists()

    # Confirm: the progress bar, then the report.
    page.get_by_test_id("confirm-import").click()
    expect(page.locator("#import-progress .progress-bar-animated")).to_be_visible()
    expect(page.get_by_role("progressbar", name=tr(language, "Progress"))).to_be_visible()
    expect(page.get_by_test_id("import-report")).to_have_text(tr(
        language, "%(created)s created, %(updated)s updated, %(skipped)s skipped, %(failed)s failed.",
        created=ROWS - 1, updated=0, skipped=0, failed=1), timeout=30000)
    expect(page.locator("#import-progress .progress-bar-animated")).to_have_count(0)
    assert Lead.objects.count() == ROWS - 1

    # The error file: the bad row as it was read, with its reason, ready to fix and import again.
    with page.expect_download() as download_info:
        page.get_by_test_id("error-file").click()
    assert download_info.value.suggested_filename == "expo-visitors-errors.csv"
    with open(download_info.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(io.StringIO(handle.read())))
    reason = ImportFailure.objects.get().reason
    assert "Maybe" in reason
    assert rows[1:] == [["Visitor 1", "Booth 1 Ltd", "visitor1@expo.test", "Maybe", reason]]
    assert rows[0] == [tr(language, header) for header in HEADERS] + [tr(language, "reason")]
