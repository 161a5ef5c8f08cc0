"""Bad input gets a 400 or a form error naming the problem, never a 500, and writes nothing.

One test per cause found by trying bad input as a person would (issue 9, section 3); the
route-generated sweep in tests/test_fuzz_sweep.py covers every route with the same values.
"""
from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from access import sharing_actions
from access.actions import do_sign_up
from access.models import Membership, Organization, SharingRule, User
from config.params import BadParameter, bounded_int, load_json, parse_id, parse_ids
from crm import actions as crm_actions
from crm.criteria import CriteriaError, validate
from crm.models import Deal, FieldDefinition
from crm.modules import get_module, org_modules
from locking import actions as locking_actions
from locking.models import FieldLock, LockRule
from teams import actions as team_actions
from teams import roles
from teams.models import TeamMember

pytestmark = pytest.mark.django_db

STATUSES = [{"value": "open", "label_en": "Open"}, {"value": "done", "label_en": "Done"}]
NINES = "9" * 30


def deep_text(levels: int) -> str:
    """Criteria JSON nested `levels` groups deep (as text: json.dumps itself gives up near 500)."""
    return '{"any": [' * levels + '{"all": [{"field": "name", "op": "eq", "value": "x"}]}' + "]}" * levels


def deep_criteria(levels: int) -> dict:
    node: dict = {"all": [{"field": "name", "op": "eq", "value": "x"}]}
    for _ in range(levels):
        node = {"any": [node]}
    return node


@pytest.fixture
def team(admin_user, make_user):
    """A team space managed by the admin with a module and one more member."""
    space = team_actions.do_create_space(admin_user.org, name_en="Support", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    roles.forget(admin_user)
    module = team_actions.do_create_team_module(space, name_en="Tickets", statuses=STATUSES,
                                                done_statuses=["done"], actor=admin_user)
    member = make_user(admin_user.org, username="tina")
    team_actions.do_set_team_member(space, member.pk, "member", actor=admin_user)
    roles.forget(admin_user)
    return space, module, member


# --- the helpers ---------------------------------------------------------------------------

def test_bounded_int_clamps_and_falls_back():
    assert bounded_int("7", default=25, low=1, high=100) == 7
    assert bounded_int("-1", default=25, low=1, high=100) == 1
    assert bounded_int("0", default=25, low=1, high=100) == 1
    assert bounded_int(NINES, default=25, low=1, high=100) == 100
    assert bounded_int("abc", default=25, low=1, high=100) == 25
    assert bounded_int(None, default=25, low=1, high=100) == 25
    assert bounded_int("٣", default=25, low=1, high=100) == 25  # digits, but not ASCII ones


def test_parse_id_names_the_parameter():
    assert parse_id(" 12 ", "ids") == 12
    assert parse_ids(["3", "1", "3"], "ids") == [3, 1]
    for bad in ("abc", "-1", "0", NINES, "", None, "1.5", "1e3"):
        with pytest.raises(BadParameter) as caught:
            parse_id(bad, "membership")
        assert "membership" in caught.value.message


def test_load_json_bounds_size_depth_and_nul():
    assert load_json('{"all": []}') == {"all": []}
    for text, words in (("[" * 100_000, "too long"), ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
                        (deep_text(600), "nested too deeply"),
                        ('{"all": [{"field": "name", "op": "eq", "value": "a\\u0000b"}]}', "NUL"),
                        ("{nope", "not valid JSON")):
        with pytest.raises(ValueError) as caught:
            load_json(text)
        assert words in str(caught.value)


# --- NUL ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/m/accounts/", "/m/deals/", "/settings/users/", "/teams/", "/requests/"])
def test_nul_in_a_query_parameter_is_a_400_naming_it(admin_user, client_for, path):
    response = client_for(admin_user).get(path, {"q": "acme\x00"})
    assert response.status_code == 400
    assert "“q” contains a NUL character" in response.content.decode()


def test_nul_on_board_chart_and_export(admin_user, client_for, team):
    _space, module, _member = team
    client = client_for(admin_user)
    for path in (f"/m/{module.key}/kanban/", f"/m/{module.key}/chart/", f"/m/{module.key}/chart/records/",
                 f"/m/{module.key}/kanban/column/"):
        response = client.get(path, {"q": "\x00"})
        assert response.status_code == 400, path
        assert "NUL" in response.content.decode()
    response = client.post("/m/accounts/export/?q=%00")  # the export is a POST carrying the list's query
    assert response.status_code == 400
    assert client.post("/m/accounts/export/?q=acme").status_code == 200


def test_nul_in_a_form_field_refuses_and_writes_nothing(admin_user, client_for):
    client = client_for(admin_user)
    count = Deal.objects.count()
    response = client.post("/m/deals/new/", {"name": "Big\x00deal", "stage": "qualification"})
    assert response.status_code == 400
    assert "“name”" in response.content.decode()
    assert Deal.objects.count() == count
    response = client.post("/m/deals/new/", {"na\x00me": "x"})
    assert response.status_code == 400


def test_nul_in_a_json_body_is_refused(admin_user, client_for):
    response = client_for(admin_user).post("/m/deals/new/", data='{"name": "a\\u0000b"}',
                                           content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


# --- numbers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("per_page", ["-1", "0", NINES, "abc"])
def test_per_page_is_bounded(admin_user, client_for, per_page):
    crm_actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    response = client_for(admin_user).get("/m/accounts/", {"per_page": per_page})
    assert response.status_code == 200
    assert "Acme" in response.content.decode()


def test_huge_page_on_board_and_chart_fragments(admin_user, client_for, team):
    _space, module, _member = team
    crm_actions.do_create_record(module.key, {"title": "Printer"}, actor=admin_user)
    client = client_for(admin_user)
    for path, extra in (("kanban/column/", {"field": "status", "value": "open"}), ("chart/records/", {})):
        for page in ("99999999999999999999", "-5", "x"):
            response = client.get(f"/m/{module.key}/{path}", {"page": page, **extra})
            assert response.status_code < 500, (path, page)
    response = client.get(f"/m/{module.key}/chart/records/", {"person": NINES})
    assert response.status_code in (200, 400, 404)


def test_number_filters_out_of_range_are_form_errors(admin_user, client_for):
    crm_actions.do_create_record("deals", {"name": "Small", "amount": "5"}, actor=admin_user)
    client = client_for(admin_user)
    for query in ({"amount__min": NINES}, {"discount__min": "1337"}, {"discount__max": "-4"},
                  {"amount__max": "-" + NINES}):
        response = client.get("/m/deals/", query)
        assert response.status_code == 200, query
        assert "invalid-feedback" in response.content.decode() or "errorlist" in response.content.decode(), query


def test_integer_filter_of_thirty_nines_is_a_form_error(admin_user, client_for):
    seats = crm_actions.do_create_field(admin_user.org, "deals", api_name="seats", label_en="Seats",
                                        field_type="integer", actor=admin_user)
    response = client_for(admin_user).get("/m/deals/", {f"f_{seats.pk}__min": NINES})
    assert response.status_code == 200
    assert "Enter a whole number" in response.content.decode()


def test_criteria_errors_of_a_filter_name_the_field(admin_user):
    schema = get_module("deals", admin_user.org).bind(admin_user.org)
    with pytest.raises(CriteriaError) as caught:
        validate({"all": [{"field": "discount", "op": "gte", "value": "1337"}]}, schema)
    assert "Discount" in " ".join(caught.value.messages) or "discount" in " ".join(caught.value.messages)


# --- ids ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["abc", NINES, "-3"])
def test_bulk_owner_change_with_bad_ids(admin_user, client_for, other_user, bad):
    deal = crm_actions.do_create_record("deals", {"name": "Mine"}, actor=admin_user)
    response = client_for(admin_user).post("/m/deals/owner/", {"ids": [str(deal.pk), bad], "owner": other_user.pk})
    assert response.status_code == 400
    assert "“ids”" in response.content.decode()
    deal.refresh_from_db()
    assert deal.owner_id == admin_user.pk


def test_bulk_edit_with_bad_ids(admin_user, client_for):
    response = client_for(admin_user).get("/m/deals/bulk-edit/", {"ids": ["abc"], "field": "stage"})
    assert response.status_code == 400


@pytest.mark.parametrize("bad", ["abc", NINES, ""])
def test_user_deactivation_with_a_bad_id(admin_user, other_user, client_for, bad):
    response = client_for(admin_user).post("/settings/users/", {"op": "deactivate", "membership": bad})
    assert response.status_code == 400
    assert "membership" in response.content.decode()
    assert Membership.objects.get(user=other_user).is_active


@pytest.mark.parametrize("bad", ["abc", NINES])
def test_team_member_removal_with_a_bad_id(admin_user, client_for, team, bad):
    space, _module, member = team
    response = client_for(admin_user).post(reverse("teams:members", args=[space.pk]), {"op": "remove", "user": bad})
    assert response.status_code == 400
    assert TeamMember.objects.filter(space=space, user=member).exists()


@pytest.mark.parametrize("bad", ["abc", NINES])
def test_field_reordering_with_a_bad_id(admin_user, client_for, team, bad):
    _space, module, _member = team
    crm_actions.do_create_field(admin_user.org, "deals", api_name="seats", label_en="Seats", field_type="integer",
                                actor=admin_user)
    orders = list(FieldDefinition.objects.order_by("pk").values_list("pk", "order"))
    client = client_for(admin_user)
    assert client.post("/settings/fields/deals/", {"op": "up", "field": bad}).status_code == 400
    assert client.post(reverse("teams:fields", args=[module.pk]), {"op": "up", "field": bad}).status_code == 400
    assert list(FieldDefinition.objects.order_by("pk").values_list("pk", "order")) == orders


# --- criteria JSON -----------------------------------------------------------------------------

def test_deep_or_nul_criteria_are_refused_by_the_validator(admin_user):
    schema = get_module("deals", admin_user.org).bind(admin_user.org)
    validate(deep_criteria(5), schema)  # a few levels are fine
    for criteria, words in ((deep_criteria(600), "nested too deeply"),
                            ({"all": [{"field": "name", "op": "eq", "value": "a\x00"}]}, "NUL"),
                            ({"all": [{"field": "name", "op": "eq", "value": str(i)} for i in range(3000)]},
                             "too large")):
        with pytest.raises(CriteriaError) as caught:
            validate(criteria, schema)
        assert words in " ".join(caught.value.messages)


def _criteria_posts(admin_user):
    """(url, data, model) for the three criteria forms: sharing rule, lock rule, field lock."""
    locking_actions.do_save_lock_config(admin_user.org, "deals", enabled=True, actor=admin_user)
    group = sharing_actions.do_create_group(admin_user.org, name="Everyone", actor=admin_user)
    return [
        ("/settings/sharing/rules/new/?module=deals",
         {"module": "deals", "name": "Rule", "target": f"group:{group.pk}", "access": "read"}, SharingRule),
        ("/settings/locking/m/deals/rules/new/", {"name": "Lock", "locked_for": "all"}, LockRule),
        ("/settings/locking/m/deals/field-locks/new/", {"name": "Fields", "fields_": ["amount"],
                                                         "locked_for": "all"}, FieldLock),
    ]


@pytest.mark.parametrize("criteria, words", [
    (deep_text(600), "nested too deeply"),
    ("[" * 50_000, "too long"),
    ('{"all": [{"field": "name", "op": "eq", "value": "a\\u0000"}]}', "NUL"),
])
def test_criteria_forms_refuse_deep_huge_and_nul_json(admin_user, client_for, criteria, words):
    client = client_for(admin_user)
    for url, data, model in _criteria_posts(admin_user):
        count = model.objects.count()
        response = client.post(url, {**data, "criteria": criteria})
        assert response.status_code in (200, 400), (url, response.status_code)
        assert words in response.content.decode(), url
        assert model.objects.count() == count, url


# --- sign-up race, language --------------------------------------------------------------------

def test_a_username_taken_between_check_and_save_is_a_form_error(db, monkeypatch):
    """The form checks the name; another sign-up saves the same name before this one does."""
    from access import forms as access_forms

    original = access_forms.SignUpForm.clean_username

    def clean_then_lose_the_race(form):
        username = original(form)
        do_sign_up(org_name="Quick", username=username, email="q@example.test", password="correct-horse-42")
        return username

    monkeypatch.setattr(access_forms.SignUpForm, "clean_username", clean_then_lose_the_race)
    orgs = Organization.objects.count()
    response = Client().post("/signup/", {"org_name": "Slow", "username": "same", "email": "s@example.test",
                                          "password": "correct-horse-42", "first_name": "S", "last_name": "S"})
    assert response.status_code == 400
    assert "This username is already taken." in response.content.decode()
    assert Organization.objects.count() == orgs + 1  # only the winner's
    assert not Organization.objects.filter(name="Slow").exists()


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_sign_ups_one_wins_one_gets_the_form_error():
    barrier = threading.Barrier(2)
    results: list[int] = []

    def sign_up(org_name: str) -> None:
        from access import forms as access_forms  # noqa: F401  (same module both threads)
        client = Client()
        barrier.wait()
        try:
            response = client.post("/signup/", {"org_name": org_name, "username": "twin", "email": "t@example.test",
                                                "password": "correct-horse-42", "first_name": "T", "last_name": "T"})
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(name,)) for name in ("One", "Two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) in ([302, 400],), results
    assert User.objects.filter(username="twin").count() == 1
    assert Organization.objects.count() == 1


@pytest.mark.parametrize("next_url", ["foo", "home", "https://evil.example/", "//evil.example", "", "\\\\x"])
def test_language_next_is_a_local_url_or_home(db, next_url):
    response = Client().post("/language/", {"language": "zh-hans", "next": next_url})
    assert response.status_code == 302
    location = response["Location"]
    assert location in ("/", next_url) and "evil" not in location
    if next_url in ("foo", "home"):
        assert location == next_url  # a relative URL, not a view name


# --- request size ------------------------------------------------------------------------------

def test_a_body_above_the_cap_is_refused_before_reading(admin_user, client_for, settings):
    settings.REQUEST_MAX_BYTES = 1000
    count = Deal.objects.count()
    response = client_for(admin_user).post("/m/deals/new/", {"name": "x" * 5000})
    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert Deal.objects.count() == count


def test_form_data_above_the_cap_is_a_413_with_a_sentence(admin_user, client_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = client_for(admin_user).post("/m/deals/new/", {"name": "x" * 5000})
    assert response.status_code == 413
    assert "The form is too large" in response.content.decode()
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    response = client_for(admin_user).post("/m/deals/new/", {f"f{i}": "1" for i in range(10)})
    assert response.status_code == 413
    assert "too many fields" in response.content.decode()


def test_every_org_module_list_survives_hostile_queries(admin_user, client_for):
    client = client_for(admin_user)
    for module in org_modules():
        for query in ({"page": NINES}, {"page": "-1"}, {"sort": "x" * 10_000}, {"columns": ["nope", "\u202e"]}):
            response = client.get(f"/m/{module.key}/", query)
            assert response.status_code < 500, (module.key, query)
