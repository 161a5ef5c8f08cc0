"""The seed story of imports and exports, on the demo organisation: Mark, who runs Marketing's
Case Studies, brings in his own case-study workbook (Chinese and English headers, real Excel
dates, a column of private notes he does not import); the team's assignment rule gives each new
case study a team member on the way in; then he exports the module back, with the columns he
mapped, and every mapped cell reads as it did in his workbook."""
from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import formats, translation
from openpyxl import load_workbook

from access.models import Membership, Organization
from access.visibility import bind_org
from automation import assignment_actions
from crm import actions
from crm.models import TimelineEntry
from imports.models import ImportJob
from teams.models import TeamMember, TeamModule, TeamRecord
from tests.imports.conftest import DATA, confirm, dry_run, latest_job, upload

pytestmark = pytest.mark.django_db
SHEET = "case_studies_marketing.xlsx"
NOT_IMPORTED = "内部备注"  # Mark's private notes column


def member(org, username):
    membership = Membership.objects.select_related("org", "profile", "org_role", "user").get(
        org=org, user__username=username)
    return bind_org(membership.user, org, membership)


def workbook_rows(content) -> list[list]:
    """The first sheet's rows, empty cells as "", each as wide as the header row."""
    rows = [["" if cell is None else cell for cell in row]
            for row in load_workbook(content, read_only=True).active.iter_rows(values_only=True)]
    return [row + [""] * (len(rows[0]) - len(row)) for row in rows]


def shown(value, language: str) -> str:
    """A workbook cell as a list page (and so an export) in `language` shows it."""
    if hasattr(value, "year"):
        with translation.override(language):
            return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def test_marks_case_study_workbook_goes_in_assigned_and_comes_back_out_the_same(
        client_for, django_capture_on_commit_callbacks):
    call_command("seed_demo", scale=0.05)
    org = Organization.objects.get(name="Zylker")
    mark, sally = member(org, "mark"), member(org, "sally")
    module = TeamModule.objects.get(org=org, name_en="Case Studies")
    schema = actions.bound_schema(module.key, org)
    team = set(TeamMember.objects.filter(space_id=module.space_id).values_list("user_id", flat=True))
    # The customers are Sally's accounts: Marketing reads them through the demo's sharing rule.
    for name in ("北京星辰科技有限公司", "Acme Corporation", "华夏物流集团", "Globex Inc"):
        actions.do_create_record("accounts", {"name": name}, actor=sally)
    # The team's rule: new case studies go round the team, in turn.
    rule = assignment_actions.do_create_assignment_rule(org, module.key, name="Round the team", actor=mark)
    assignment_actions.do_add_assignment_entry(rule, actor=mark, criteria=None, method="round_robin", pool="team",
                                               pool_space_id=module.space_id)
    assignment_actions.do_activate_assignment_rule(rule, actor=mark)
    before = set(TeamRecord.objects.filter(module=module).values_list("pk", flat=True))

    # Upload: each column but the private notes finds its field by its Chinese or English name.
    client = client_for(mark)
    assert reverse("imports:start", args=[module.key]) in client.get(
        reverse("crm:list", args=[module.key])).content.decode()
    assert upload(client, module.key, SHEET).status_code == 302
    job = latest_job()
    keys = {spec.api_name: spec.key for spec in schema.custom_fields}
    sheet = workbook_rows(DATA / SHEET)
    headers, rows = sheet[0], sheet[1:]
    expected = {"标题": "title", "Customer": keys["customer"], "截止日期": keys["due"], "Format": keys["format"],
                "简介": keys["brief"]}
    assert {job.headers[int(index)]: key for index, key in job.mapping.items()} == expected
    assert str(headers.index(NOT_IMPORTED)) not in job.mapping

    # The dry run, then the import, through the pages (the jobs run eagerly; the rule on commit).
    dry_run(client, job)
    assert job.status == ImportJob.Status.CHECKED, job.error
    assert job.expected == {"created": 4, "updated": 0, "skipped": 0, "failed": 0}, job.preview
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, job)
    assert (job.status, job.created_count, job.failed_count) == (ImportJob.Status.DONE, 4, 0)

    # Assigned on the way in: one case study each for the four people of the team.
    imported = TeamRecord.objects.filter(module=module).exclude(pk__in=before)
    assert sorted(r.title for r in imported) == sorted(row[0] for row in rows)
    assert {r.assignee_id for r in imported} == team and len(team) == 4
    for record in imported:
        assert TimelineEntry.objects.filter(record_id=record.pk, kind="created", path="import").exists()
        assert TimelineEntry.objects.filter(record_id=record.pk, path=f"rule:assignment:{rule.pk}").exists()

    # Exported back, in Mark's Chinese, with the columns he mapped, in the workbook's order.
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    history = client.get(reverse("imports:start", args=[module.key])).content.decode()
    assert "<th>导入人</th>" in history and "已创建 4 条" in client.get(
        reverse("imports:job", args=[job.pk])).content.decode()
    columns = [expected[h] for h in headers if h in expected]
    query = urlencode([("columns", key) for key in columns])
    response = client.post(f"{reverse('exports:export', args=[module.key])}?{query}", {"format": "xlsx"})
    assert response.status_code == 200, response.content[:500]
    exported = workbook_rows(io.BytesIO(b"".join(response.streaming_content)))
    with translation.override("zh-hans"):
        assert exported[0] == [str(schema.field(key).label) for key in columns]
    by_title = {row[0]: row for row in exported[1:]}
    mapped = [i for i, h in enumerate(headers) if h in expected]
    for row in rows:
        assert by_title[row[0]] == [shown(row[i], "zh-hans") for i in mapped], row[0]
    assert not any(NOT_IMPORTED in str(cell) or "Sally 提的需求" in str(cell) for line in exported for cell in line)
