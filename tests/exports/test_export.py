"""Exporting a list to CSV or XLSX, downloaded at once: what the file holds (the list's search,
filters, order and chosen columns, values as the list shows them, in the user's language), who
may export (both sides of each rule), formula escaping, the access log, and a query count that
does not grow with the rows. Files are read back as a spreadsheet program would read them."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from access.actions import do_set_org_default
from access.models import PERMISSIONS, AccessLog, Profile
from access.sharing_actions import (
    do_clone_profile, do_set_profile_field_levels, do_set_profile_permissions, do_set_user_profile,
)
from crm import actions as crm_actions
from crm.modules import get_module, org_modules
from exports.models import ExportJob
from teams import actions as team_actions
from teams import roles
from tests.helpers import fresh, version_of

pytestmark = pytest.mark.django_db

MODULES = [m.key for m in org_modules()]
STATUSES = [{"value": "open", "label_en": "Open", "label_zh": "待处理"},
            {"value": "done", "label_en": "Done", "label_zh": "完成"}]


# --- helpers ---------------------------------------------------------------------------------

def export(client, module: str, fmt: str = "csv", query: str = ""):
    return client.post(reverse("exports:export", args=[module]) + (f"?{query}" if query else ""), {"format": fmt})


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="' in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())  # spreadsheet programs read UTF-8 by it
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500] if not response.streaming else ""
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert ".xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book.active
    rows = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)  # never a formula
        rows.append(["" if cell.value is None else cell.value for cell in row])
    return rows


def rows_of(response, fmt: str) -> list[list[str]]:
    return csv_rows(response) if fmt == "csv" else xlsx_rows(response)


def profile_without(admin, user, name: str = "No deal export", **deals: bool) -> None:
    """Give `user` a copy of the Standard profile with some deal permissions switched off."""
    standard = Profile.objects.get(org=admin.org, name="Standard")
    profile = do_clone_profile(standard, name, actor=admin)
    grid = {scope: {p: True for p in PERMISSIONS} for scope in ["*", *MODULES]}
    grid["deals"].update(deals)
    do_set_profile_permissions(profile, grid, actor=admin, known_modules=MODULES)
    do_set_user_profile(user.membership, profile, actor=admin)


@pytest.fixture
def deals(admin_user):
    """Two accounts and three deals with every kind of value a list shows."""
    org = admin_user.org
    crm_actions.do_create_field(org, "deals", api_name="tier", label_en="Tier", label_zh="等级", field_type="picklist",
                                options=[{"value": "gold", "label_en": "Gold", "label_zh": "金牌"}], actor=admin_user)
    crm_actions.do_create_field(org, "deals", api_name="partner", label_en="Partner", label_zh="合作伙伴",
                                field_type="lookup", target="accounts", actor=admin_user)
    northwind = crm_actions.do_create_record("accounts", {"name": "Northwind 北风"}, actor=admin_user)
    contoso = crm_actions.do_create_record("accounts", {"name": "Contoso"}, actor=admin_user)
    schema = get_module("deals", org).bind(org)
    tier, partner = schema.field("tier").key, schema.field("partner").key
    big = crm_actions.do_create_record("deals", {
        "name": "Big deal", "account": northwind.pk, "stage": "won", "amount": "1234.5",
        "close_date": "2026-03-15", tier: "gold", partner: contoso.pk}, actor=admin_user)
    small = crm_actions.do_create_record("deals", {"name": "Small deal", "stage": "proposal", "amount": "10"},
                                         actor=admin_user)
    gone = crm_actions.do_create_record("deals", {"name": "Deleted deal", "stage": "won"}, actor=admin_user)
    crm_actions.do_delete_record(gone, version=version_of(gone), actor=admin_user)
    return {"big": big, "small": small, "northwind": northwind, "contoso": contoso, "tier": tier,
            "partner": partner}


COLUMNS = "columns=name&columns=account&columns=stage&columns=amount&columns=close_date&columns={tier}&columns={partner}"


# --- what the file holds ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_file_holds_the_chosen_columns_as_the_list_shows_them(admin_user, client_for, deals, fmt):
    client = client_for(admin_user)
    rows = rows_of(export(client, "deals", fmt, COLUMNS.format(**deals) + "&sort=name"), fmt)
    assert rows[0] == ["Deal name", "Account", "Stage", "Amount", "Close date", "Tier", "Partner"]
    # Labels, not stored values; names of linked records, not ids; dates as the user reads them.
    assert rows[1:] == [["Big deal", "Northwind 北风", "Closed won", "1,234.50", "03/15/2026", "Gold", "Contoso"],
                        ["Small deal", "", "Proposal", "10.00", "", "", ""]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_chinese_user_gets_chinese_headers_and_labels(admin_user, client_for, deals, fmt):
    client = client_for(admin_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    rows = rows_of(export(client, "deals", fmt, COLUMNS.format(**deals) + "&sort=name"), fmt)
    assert rows[0] == ["商机名称", "客户", "阶段", "金额", "结束日期", "等级", "合作伙伴"]
    assert rows[1] == ["Big deal", "Northwind 北风", "赢单", "1234.50", "2026年3月15日", "金牌", "Contoso"]
    assert rows[2][2] == "方案"


def test_the_list_columns_remembered_by_the_list_page_are_exported(admin_user, client_for, deals):
    client = client_for(admin_user)
    client.get(reverse("crm:list", args=["deals"]) + "?columns=stage")  # the list page remembers them
    rows = csv_rows(export(client, "deals", query="sort=name"))
    assert rows == [["Deal name", "Stage"], ["Big deal", "Closed won"], ["Small deal", "Proposal"]]


def test_the_search_filters_and_order_of_the_list_apply(admin_user, client_for, deals):
    client = client_for(admin_user)
    crm_actions.do_create_record("deals", {"name": "Big other", "stage": "proposal", "amount": "99"}, actor=admin_user)
    names = [row[0] for row in csv_rows(export(client, "deals", query="q=big&sort=-amount"))[1:]]
    assert names == ["Big deal", "Big other"]  # the search, by amount descending
    names = [row[0] for row in csv_rows(export(client, "deals", query="q=big&stage=won"))[1:]]
    assert names == ["Big deal"]  # and a filter
    log = AccessLog.objects.filter(org=admin_user.org).latest("pk")
    assert (log.module, log.action, log.count, log.filters) == ("deals", "export", 1, {"q": "big", "stage": "won"})


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_records_in_the_recycle_bin_are_never_exported(admin_user, client_for, deals, fmt):
    client = client_for(admin_user)
    crm_actions.do_delete_record(deals["contoso"], version=version_of(deals["contoso"]), actor=admin_user)
    rows = rows_of(export(client, "deals", fmt, COLUMNS.format(**deals)), fmt)
    text = repr(rows)
    assert "Deleted deal" not in text
    assert "Contoso" not in text  # a linked record in the recycle bin is not named either
    accounts = rows_of(export(client, "accounts", fmt), fmt)
    assert [row[0] for row in accounts[1:]] == ["Northwind 北风"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formulas_are_escaped_in_every_cell(admin_user, client_for, fmt):
    client = client_for(admin_user)
    names = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1+2", "-3", "@SUM(A1)", "Plain"]
    for name in names:
        crm_actions.do_create_record("accounts", {"name": name}, actor=admin_user)
    crm_actions.do_create_field(admin_user.org, "accounts", api_name="risky", label_en="=Risky", field_type="text",
                                actor=admin_user)
    rows = rows_of(export(client, "accounts", fmt, "columns=name&columns=" + get_module(
        "accounts", admin_user.org).bind(admin_user.org).field("risky").key), fmt)
    assert rows[0] == ["Account name", "'=Risky"]
    exported = sorted(row[0] for row in rows[1:])
    assert exported == sorted(["'" + name if name != "Plain" else name for name in names])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_formula_start_is_escaped_by_both_writers(fmt):
    """Tabs and carriage returns cannot start a stored text (values are trimmed), so the writers
    are checked with them directly."""
    from exports.formats import WRITERS

    cells = ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "ok", "a=b", "", "中文"]
    out = io.BytesIO()
    WRITERS[fmt]([["header"], *([cell] for cell in cells)], out, title="Deals: [all]")
    out.seek(0)
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out.read().decode("utf-8-sig"), newline="")))
    else:
        sheet = load_workbook(out).active
        assert sheet.title == "Deals   all"  # characters a sheet title may not hold are replaced
        rows = [["" if c.value is None else c.value for c in row] for row in sheet.iter_rows()]
    # (XML reads a carriage return back as a line feed: the apostrophe is what matters.)
    carriage_return = "'\rx" if fmt == "csv" else "'\nx"
    assert [row[0] if row else "" for row in rows[1:]] == [
        "'=1+1", "'+1", "'-1", "'@A1", "'\tx", carriage_return, "ok", "a=b", "", "中文"]


# --- who may export --------------------------------------------------------------------------

def test_the_list_offers_both_formats_only_to_those_who_may_export(admin_user, standard_user, client_for):
    page = client_for(admin_user).get(reverse("crm:list", args=["deals"])).content.decode()
    assert 'data-testid="export-csv"' in page and 'data-testid="export-xlsx"' in page
    profile_without(admin_user, standard_user, export=False)
    page = client_for(fresh(standard_user)).get(reverse("crm:list", args=["deals"])).content.decode()
    assert 'data-testid="export-csv"' not in page and 'data-testid="export-xlsx"' not in page


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_profile_without_export_is_refused_and_nothing_is_logged(admin_user, standard_user, client_for, deals,
                                                                   fmt):
    profile_without(admin_user, standard_user, export=False)
    before = AccessLog.objects.count()
    response = export(client_for(fresh(standard_user)), "deals", fmt)
    assert response.status_code == 403
    assert AccessLog.objects.count() == before
    # ... and without the module at all, the module is not there for them.
    profile_without(admin_user, fresh(standard_user), "No deals", view=False)
    assert export(client_for(fresh(standard_user)), "deals", fmt).status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_only_the_records_the_user_may_export_are_in_the_file(admin_user, standard_user, other_user, client_for, fmt):
    do_set_org_default(admin_user.org, "deals", "private", actor=admin_user)
    crm_actions.do_create_record("deals", {"name": "Sam's deal"}, actor=standard_user)
    crm_actions.do_create_record("deals", {"name": "Olga's deal"}, actor=other_user)
    sam = [row[0] for row in rows_of(export(client_for(fresh(standard_user)), "deals", fmt), fmt)[1:]]
    assert sam == ["Sam's deal"]
    admin = sorted(row[0] for row in rows_of(export(client_for(admin_user), "deals", fmt), fmt)[1:])
    assert admin == ["Olga's deal", "Sam's deal"]
    log = AccessLog.objects.filter(user=standard_user.pk).get()
    assert (log.module, log.count) == ("deals", 1)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_hidden_field_is_absent_even_when_asked_for(admin_user, standard_user, client_for, deals, fmt):
    standard = Profile.objects.get(org=admin_user.org, name="Standard")
    profile = do_clone_profile(standard, "No amounts", actor=admin_user)
    schema = get_module("deals", admin_user.org).bind(admin_user.org)
    do_set_profile_field_levels(profile, "deals", {"amount": "hidden", deals["tier"]: "hidden"}, actor=admin_user,
                                known_modules=MODULES, known_field_keys=[f.key for f in schema.fields])
    do_set_user_profile(standard_user.membership, profile, actor=admin_user)
    rows = rows_of(export(client_for(fresh(standard_user)), "deals", fmt, COLUMNS.format(**deals)), fmt)
    assert rows[0] == ["Deal name", "Account", "Stage", "Close date", "Partner"]
    assert "1,234.50" not in repr(rows) and "Gold" not in repr(rows)
    # The administrator's file has them.
    rows = rows_of(export(client_for(admin_user), "deals", fmt, COLUMNS.format(**deals)), fmt)
    assert "Amount" in rows[0] and "Tier" in rows[0]


def test_another_org_never_sees_a_record_or_a_module(admin_user, other_org_user, client_for, deals):
    space = team_actions.do_create_space(admin_user.org, name_en="Marketing", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    roles.forget(admin_user)
    module = team_actions.do_create_team_module(space, name_en="Case studies", statuses=STATUSES, actor=admin_user)
    crm_actions.do_create_record(module.key, {"title": "Acme story"}, actor=admin_user)
    client = client_for(other_org_user)
    for key in ("deals", "accounts"):
        rows = csv_rows(export(client, key))
        assert len(rows) == 1, rows  # the header alone
        assert len(xlsx_rows(export(client, key, "xlsx"))) == 1
    for fmt in ("csv", "xlsx"):
        assert export(client, module.key, fmt).status_code == 404
    # Their exports are on their own org's log, with nothing in them.
    assert list(AccessLog.objects.filter(org=other_org_user.org).values_list("count", flat=True)) == [0] * 4


@pytest.fixture
def team(admin_user, make_user):
    """A team space with a module, a member, and a requester from outside the team."""
    space = team_actions.do_create_space(admin_user.org, name_en="Marketing", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    roles.forget(admin_user)
    module = team_actions.do_create_team_module(space, name_en="Case studies", statuses=STATUSES, actor=admin_user)
    crm_actions.do_create_field(admin_user.org, module.key, api_name="budget", label_en="Internal budget",
                                field_type="text", actor=admin_user)
    member = make_user(admin_user.org, username="tina")
    team_actions.do_set_team_member(space, member.pk, "member", actor=admin_user)
    requester = make_user(admin_user.org, username="rita")
    outsider = make_user(admin_user.org, username="otto")
    team_actions.do_set_requesters(module, [requester.pk], actor=admin_user)
    for user in (admin_user, member, requester, outsider):
        roles.forget(user)
    schema = get_module(module.key, admin_user.org).bind(admin_user.org)
    crm_actions.do_create_record(module.key, {"title": "Acme story", "status": "done",
                                              schema.field("budget").key: "5000"}, actor=admin_user)
    return module, schema.field("budget").key, fresh(member), fresh(requester), fresh(outsider)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_team_module_lists_export_for_their_team_only(team, client_for, fmt):
    module, budget, member, requester, outsider = team
    client = client_for(member)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    rows = rows_of(export(client, module.key, fmt, f"columns=status&columns={budget}"), fmt)
    assert rows[0][1:] == ["状态", "Internal budget"]
    assert rows[1:] == [["Acme story", "完成", "5000"]]
    page = client_for(member).get(reverse("crm:list", args=[module.key])).content.decode()
    assert 'data-testid="export-xlsx"' in page
    # A requester reaches the module through the Requests tab only; someone outside the team
    # does not find it at all.
    assert export(client_for(requester), module.key, fmt).status_code == 403
    assert export(client_for(outsider), module.key, fmt).status_code == 404


# --- bad input, the log, the cost ------------------------------------------------------------

def test_an_unknown_format_is_a_clear_400_that_logs_nothing(admin_user, client_for, deals):
    before = AccessLog.objects.count()
    response = export(client_for(admin_user), "deals", "pdf")
    assert response.status_code == 400
    assert "Unknown export format “pdf”" in response.content.decode()
    assert AccessLog.objects.count() == before and not ExportJob.objects.exists()


def test_every_export_is_on_the_access_log(admin_user, client_for, deals):
    client = client_for(admin_user)
    csv_rows(export(client, "deals", "csv"))
    xlsx_rows(export(client, "deals", "xlsx", "stage=won"))
    logs = list(AccessLog.objects.filter(org=admin_user.org).order_by("pk").values_list(
        "user", "module", "action", "count", "filters"))
    assert logs == [(admin_user.pk, "deals", "export", 2, {}), (admin_user.pk, "deals", "export", 1, {"stage": "won"})]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_number_of_queries_does_not_grow_with_the_rows(admin_user, client_for, deals, fmt):
    client = client_for(admin_user)
    query = COLUMNS.format(**deals) + "&columns=owner"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            rows_of(export(client, "deals", fmt, query), fmt)
        return len(captured)

    few = queries()
    for n in range(20):
        crm_actions.do_create_record("deals", {"name": f"Deal {n}", "account": deals["northwind"].pk,
                                               deals["partner"]: deals["contoso"].pk, deals["tier"]: "gold"},
                                     actor=admin_user)
    assert queries() == few


def test_rows_are_read_and_named_a_chunk_at_a_time(admin_user, settings, deals):
    """Chunks of 2 rows: each chunk looks up its linked records once, whatever its size."""
    from exports.resources import export_rows
    from exports.selectors import export_fields, export_queryset
    from django.http import QueryDict

    for n in range(3):
        crm_actions.do_create_record("deals", {"name": f"Deal {n}", "account": deals["northwind"].pk},
                                     actor=admin_user)
    schema = get_module("deals", admin_user.org).bind(admin_user.org)
    fields = export_fields(admin_user, schema, ["name", "account"])
    queryset, _asked = export_queryset(admin_user, schema, fields, QueryDict("sort=name"))
    done = []
    with CaptureQueriesContext(connection) as captured:
        rows = list(export_rows(schema, fields, queryset, language="en", chunk_size=2, progress=done.append))
    assert len(rows) == 6 and rows[1] == ("Big deal", "Northwind 北风")
    assert done == [2, 4, 5]
    # One query for the rows, and one per chunk that names accounts (the last one, Small
    # deal, names none): never one per row.
    assert len([q for q in captured if '"crm_account"' in q["sql"]]) == 2
    assert len([q for q in captured if '"crm_deal"' in q["sql"]]) == 1
