"""An import from upload to report for org modules, and the corpus of bad files: each gives a
clear reason by row (or for the file) and writes nothing wrong."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from access.actions import do_set_language
from crm import actions
from crm.models import Deal, Lead, TimelineEntry
from imports.models import ImportJob, ImportTemplate
from tests.imports.conftest import confirm, dry_run, import_file, job_page, latest_job, outcomes, upload

pytestmark = pytest.mark.django_db


def test_a_lead_file_goes_from_upload_through_mapping_and_dry_run_to_its_report(standard_user, sam):
    response = upload(sam, "leads", "bom_mixed_headers.csv")
    job = latest_job()
    assert response.status_code == 302 and response["Location"] == reverse("imports:mapping", args=[job.pk])
    # BOM, English and Chinese headers: every column found its field.
    assert job.encoding == "utf-8-sig" and job.total_rows == 2
    assert job.mapping == {"0": "last_name", "1": "first_name", "2": "company", "3": "email", "4": "phone",
                           "5": "status"}
    page = sam.get(response["Location"]).content.decode()
    assert '<option value="company" selected>' in page and "Acme Ltd" in page

    dry_run(sam, job)
    assert job.status == ImportJob.Status.CHECKED
    assert job.expected == {"created": 2, "updated": 0, "skipped": 0, "failed": 0}
    assert outcomes(job) == {2: ("create", ""), 3: ("create", "")}
    assert not Lead.objects.exists()  # the dry run wrote nothing
    assert "2 to create, 0 to update, 0 to skip, 0 failing." in job_page(sam, job)

    confirm(sam, job)
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.updated_count, job.skipped_count, job.failed_count) == (2, 0, 0, 0)
    smith = Lead.objects.get(last_name="Smith")
    assert (smith.first_name, smith.email, smith.phone, smith.status) == (
        "John", "john@acme.test", "+15550102000", "contacted")
    assert Lead.objects.get(last_name="王").status == "qualified"
    assert smith.owner_id == standard_user.pk
    assert set(TimelineEntry.objects.filter(record_id=smith.pk).values_list("kind", "path")) == {("created", "import")}
    assert "2 created, 0 updated, 0 skipped, 0 failed." in job_page(sam, job)
    history = sam.get(reverse("imports:start", args=["leads"])).content.decode()
    assert "bom_mixed_headers.csv" in history and "Sam" in history


def test_a_chinese_excel_export_in_gbk_is_read_with_its_chinese_labels(sam):
    job = import_file(sam, "leads", "gbk_leads.csv")
    assert job.encoding == "gb18030"
    assert [job.mapping[str(i)] for i in range(7)] == ["last_name", "first_name", "company", "email", "phone",
                                                       "status", "source"]
    zhang = Lead.objects.get(email="zhang.wei@example.cn")
    assert (zhang.last_name, zhang.company, zhang.phone, zhang.status, zhang.source) == (
        "张", "北京星辰科技有限公司", "13800138000", "new", "event")
    assert Lead.objects.get(last_name="李").source == "referral"


def test_a_gbk_file_read_as_utf8_is_refused_with_the_reason(sam):
    response = upload(sam, "leads", "gbk_leads.csv", encoding="utf-8")
    assert response.status_code == 400
    assert "is not valid utf-8 text: choose the file&#x27;s encoding" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("name, reason", [
    ("empty.csv", "The file is empty."),
    ("header_only.csv", "The file has column names but no rows under them."),
    ("old.xls", "Old Excel files (.xls) cannot be read"),
    ("broken.xlsx", "This is not a readable .xlsx file"),
])
def test_files_with_nothing_to_import_are_refused_with_the_reason(sam, name, reason):
    content = b"not a spreadsheet" if name in ("old.xls", "broken.xlsx") else None
    response = upload(sam, "leads", name, content)
    assert response.status_code == 400 and reason in response.content.decode()
    assert not ImportJob.objects.exists()


def test_ragged_rows_are_reported_by_row_and_the_others_go_in(sam):
    job = import_file(sam, "leads", "ragged_rows.csv")
    assert outcomes(job)[3] == ("error", "This row has 4 cells but the header has 3 columns "
                                         "(a separator or quote out of place?).")
    assert outcomes(job)[4][0] == "error" and "has 2 cells" in outcomes(job)[4][1]
    assert sorted(Lead.objects.values_list("last_name", flat=True)) == ["Also good", "Good"]
    assert (job.created_count, job.failed_count) == (2, 2)
    # The error file: the failing rows as read, with their reasons, ready to fix and import again.
    response = sam.get(reverse("imports:errors", args=[job.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="ragged_rows-errors.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["Last name", "Company", "Email", "reason"]
    assert rows[1][:3] == ["Extra", "Acme", " Inc."] and "4 cells" in rows[1][3] and rows[1][4] == "extra@example.test"
    assert rows[2][:3] == ["Short", "Nothing else", ""] and "2 cells" in rows[2][3]
    assert 'href="%s"' % reverse("imports:errors", args=[job.pk]) in job_page(sam, job)


@pytest.mark.parametrize("name", ["formula_cells.csv", "formula_cells.xlsx"])
def test_formula_cells_are_reported_and_never_stored(sam, name):
    job = import_file(sam, "leads", name)
    outcome, reason = outcomes(job)[2]
    assert outcome == "error" and reason.startswith("Company: holds a formula (=")
    assert list(Lead.objects.values_list("last_name", "company")) == [("Plain", "Plain Ltd")]


def test_three_date_formats_and_numbers_with_separators(sam):
    job = import_file(sam, "deals", "three_date_formats.csv", day_first="1")
    deals = {d.name: (d.close_date, d.amount) for d in Deal.objects.all()}
    december_3 = dt.date(2026, 12, 3)
    assert deals == {"ISO": (december_3, Decimal("1200.50")), "Day first": (december_3, Decimal("12000")),
                     "Slashes": (december_3, Decimal("300"))}
    assert outcomes(job)[5] == ("error", "Close date: “31/31/2026” is not a date (write it as 2026-12-03, "
                                         "03/12/2026 or 2026/12/3).")


def test_dates_are_read_first_as_the_app_writes_them_in_the_person_s_language(sam, standard_user):
    """An English export writes 12/03/2026 for 3 December: imported back, it is read month first;
    in Chinese (dates written 2026年12月3日) 03/12/2026 stays day first."""
    upload(sam, "deals", "three_date_formats.csv")
    assert latest_job().day_first is False
    do_set_language(standard_user, "zh-hans")
    upload(sam, "deals", "three_date_formats.csv")
    assert latest_job().day_first is True


def test_month_first_dates_when_chosen(sam):
    job = import_file(sam, "deals", "three_date_formats.csv", day_first="0")
    assert Deal.objects.get(name="Day first").close_date == dt.date(2026, 3, 12)
    assert job.failed_count == 1


def test_excel_dates_and_serial_numbers(sam):
    import_file(sam, "deals", "dates_and_numbers.xlsx")
    assert {d.name: (d.close_date, d.amount) for d in Deal.objects.all()} == {
        "Excel date": (dt.date(2026, 12, 3), Decimal("1200.50")),
        "Excel serial": (dt.date(2026, 12, 3), Decimal("12000"))}


@pytest.fixture
def existing_lead(standard_user):
    return actions.do_create_record("leads", {"last_name": "Old name", "company": "Old Ltd",
                                              "email": "existing@example.test"}, actor=standard_user)


def test_duplicates_are_skipped_by_default_matched_on_email(sam, existing_lead):
    job = import_file(sam, "leads", "duplicate_rows.csv")
    assert job.match_fields == ["email"]
    assert outcomes(job) == {2: ("create", ""), 3: ("skip", "A record like this exists: “Old name”."),
                             4: ("skip", "Same as row 2.")}
    assert sorted(Lead.objects.values_list("last_name", flat=True)) == ["Old name", "Twin"]


def test_duplicates_update_the_existing_record(sam, existing_lead):
    job = import_file(sam, "leads", "duplicate_rows.csv", duplicates="update")
    assert [o for o, _reason in outcomes(job).values()] == ["create", "update", "update"]
    assert sorted(Lead.objects.values_list("last_name", flat=True)) == ["Existing", "Twin again"]
    assert (job.created_count, job.updated_count) == (1, 2)
    entry = TimelineEntry.objects.get(record_id=existing_lead.pk, kind="updated")
    assert entry.path == "import" and entry.changes["last_name"] == ["Old name", "Existing"]


def test_duplicates_created_anyway_when_chosen(sam, existing_lead):
    job = import_file(sam, "leads", "duplicate_rows.csv", duplicates="create", match_fields=[])
    assert job.created_count == 3 and Lead.objects.count() == 4


def test_an_unknown_picklist_value_fails_its_row_only(sam):
    job = import_file(sam, "leads", "unknown_picklist.csv")
    assert outcomes(job)[3] == ("error", "Status: “Maybe” is not one of the choices.")
    known = Lead.objects.get()
    assert (known.last_name, known.status, known.source) == ("Known", "new", "web")


def test_a_locked_record_is_not_updated_by_import(org, admin_user, standard_user, sam):
    from access.actions import do_set_org_default
    from locking import actions as locking

    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Closed deals", actor=admin_user,
                                criteria={"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]},
                                restricted_actions=["edit", "bulk_edit", "import_update"])
    won = actions.do_create_record("deals", {"name": "Won deal", "stage": "won", "amount": "100"}, actor=admin_user)
    opened = actions.do_create_record("deals", {"name": "Open deal", "amount": "100"}, actor=admin_user)
    job = import_file(sam, "deals", "locked_target.csv", duplicates="update", match_fields=["name"])
    outcome, reason = outcomes(job)[2]
    assert outcome == "error" and "Closed deals" in reason and "by import" in reason
    assert outcomes(job)[3] == ("update", "")
    assert Deal.objects.get(pk=won.pk).amount == Decimal("100")
    assert Deal.objects.get(pk=opened.pk).amount == Decimal("500")
    assert (job.updated_count, job.failed_count) == (1, 1)


def test_a_missing_required_field_fails_the_row(sam):
    job = import_file(sam, "leads", "missing_required.csv")
    assert outcomes(job) == {2: ("error", "Last name: This field is required.")}
    assert job.failed_count == 1 and not Lead.objects.exists()


def test_a_10_mb_cell_is_reported_by_row(sam):
    content = ("Last name,Company\nHuge," + "x" * (10 * 1024 * 1024) + "\nSmall,Small Ltd\n").encode()
    job = import_file(sam, "leads", "huge_cell.csv", content)
    assert outcomes(job)[2] == ("error", "Company: is 10485760 characters long; a cell can hold at most 32767.")
    assert list(Lead.objects.values_list("last_name", flat=True)) == ["Small"]


def test_whole_file_or_nothing_writes_nothing_when_a_row_fails(sam):
    job = import_file(sam, "leads", "ragged_rows.csv", all_or_nothing="on")
    assert job.status == ImportJob.Status.DONE and job.all_or_nothing
    assert not Lead.objects.exists()
    assert (job.created_count, job.failed_count) == (0, 2)
    page = job_page(sam, job)
    assert "Nothing was imported: 2 rows failed" in page and "Undo this import" not in page
    assert "Download the failing rows" in page


def test_a_mapping_saved_as_a_template_maps_the_next_file(sam):
    response = upload(sam, "leads", "ragged_rows.csv")
    job = latest_job()
    # The person sends the company column nowhere and saves that as a template.
    dry_run(sam, job, {"0": "last_name", "2": "email"}, template_name="Event leads")
    template = ImportTemplate.objects.get(name="Event leads")
    assert template.columns == {"lastname": "last_name", "company": "", "email": "email"}
    upload(sam, "leads", "ragged_rows.csv")
    second = latest_job()
    assert second.mapping["1"] == "company"  # matched by name, before the template
    response = sam.post(reverse("imports:mapping", args=[second.pk]), {"template": template.pk})
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.mapping == {"0": "last_name", "2": "email"}


def test_two_columns_for_one_field_are_refused_on_the_mapping_page(sam):
    upload(sam, "leads", "ragged_rows.csv")
    job = latest_job()
    response = dry_run(sam, job, {"0": "last_name", "1": "last_name"})
    assert response.status_code == 400 and "Two columns go to “Last name”: choose one." in response.content.decode()
    assert job.status == ImportJob.Status.UPLOADED
