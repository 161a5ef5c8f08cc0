"""Finding duplicates: normalised in SQL (case, spaces, full-width characters, phone formats),
only among the records the user may see, with clear answers to bad parameters."""
from __future__ import annotations

from django.urls import reverse

from crm.modules import get_module
from dedupe import selectors
from tests.factories import LeadFactory


def _groups(user, keys):
    schema = get_module("leads").bind(user.org)
    specs = [schema.field(key) for key in keys]
    groups, _more = selectors.duplicate_groups(user, schema, specs)
    return [sorted(group.ids) for group in groups]


def test_normalised_duplicates_are_found_among_visible_records(standard_user, other_user, client_for):
    a = LeadFactory(actor=standard_user, last_name="Zhang", first_name="Wei", company="ＡＣＭＥ　 Ltd",
                    email="wei@acme.cn", phone="+86 138 0013 8000")
    b = LeadFactory(actor=standard_user, last_name=" zhang ", first_name="WEI", company="acme ltd",
                    email="WEI@ACME.CN", phone="0086-138-0013-8000")
    c = LeadFactory(actor=standard_user, last_name="Li", company="Other", phone="138 0013 8000")
    LeadFactory(actor=standard_user, last_name="Wang", company="Another", phone="+1 415 555 0100")
    # Olga's lead is private to her: Sam's groups never count or show it.
    hidden = LeadFactory(actor=other_user, last_name="Zhang", company="Acme Ltd", phone="13800138000")

    assert _groups(standard_user, ["company"]) == [[a.pk, b.pk]]  # full-width letters, ideographic space
    assert _groups(standard_user, ["phone"]) == [[a.pk, b.pk, c.pk]]  # +86, 0086, none
    assert _groups(standard_user, ["email"]) == [[a.pk, b.pk]]
    assert _groups(standard_user, ["first_name", "last_name", "company"]) == [[a.pk, b.pk]]
    assert _groups(other_user, ["phone"]) == []  # Olga sees only her own lead

    page = client_for(standard_user).get(reverse("dedupe:find", args=["leads"]), {"fields": "phone"})
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count('data-testid="duplicate-group"') == 1
    assert f'value="{c.pk}"' in text and f'value="{hidden.pk}"' not in text


def test_the_grouping_is_one_bounded_query_and_pages(standard_user, settings, django_assert_max_num_queries):
    for n in range(3):
        LeadFactory(actor=standard_user, last_name=f"Dup {n}", company="Same")
        LeadFactory(actor=standard_user, last_name=f"Dup {n}", company="Same")
    schema = get_module("leads").bind(standard_user.org)
    selectors.duplicate_groups(standard_user, schema, [schema.field("company")])  # the predicate's settings, cached
    with django_assert_max_num_queries(3):  # the groups, then their records (and a share count)
        groups, more = selectors.duplicate_groups(standard_user, schema, [schema.field("last_name")])
    assert len(groups) == 3 and not more
    settings.DEDUPE_SCAN_ROWS = 2  # only the newest two records are compared: one pair
    groups, _more = selectors.duplicate_groups(standard_user, schema, [schema.field("last_name")])
    assert [group.size for group in groups] == [2]
    assert selectors.scan_capped(standard_user, schema)


def test_bad_parameters_give_clear_answers(standard_user, client_for):
    client = client_for(standard_user)
    url = reverse("dedupe:find", args=["leads"])
    response = client.get(url, {"fields": "no_such_field", "page": "x"})
    assert response.status_code == 400 and "Unknown field" in response.content.decode()
    assert client.get(reverse("dedupe:find", args=["no-such-module"])).status_code == 404


def test_the_list_page_links_to_duplicates(standard_user, client_for):
    text = client_for(standard_user).get(reverse("crm:list", args=["leads"])).content.decode()
    assert reverse("dedupe:find", args=["leads"]) in text
    assert reverse("dedupe:merge", args=["leads"]) in text
