"""Lean pages: a list reads only the columns it shows and writes its rows without a template per
cell, yet looks and behaves as before (sort links, "pk:version" select boxes, picklist badges,
the controls the decision point offers); a record page asks the visibility of all its controls
in one query."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions

pytestmark = pytest.mark.django_db


def _page(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in captured]


def test_the_list_reads_only_the_shown_columns_and_keeps_its_controls(admin_user, standard_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Initech", "industry": "technology",
                                                    "description": "long words " * 50}, actor=standard_user)
    html, queries = _page(client_for(standard_user), reverse("crm:list", args=["accounts"]) + "?columns=industry")
    rows = [sql for sql in queries if sql.startswith('SELECT "crm_account"."id"') and "LIMIT" in sql]
    assert len(rows) == 1
    assert '"crm_account"."name"' in rows[0] and '"crm_account"."industry"' in rows[0]
    assert '"crm_account"."description"' not in rows[0] and '"crm_account"."website"' not in rows[0]
    assert "access_user" not in rows[0]  # the owner column is not shown: no join for it
    assert f'value="{account.pk}:{account.version}"' in html  # the bulk select box
    assert re.search(r'<a href="\?[^"]*sort=name', html)  # the sort links
    assert f'href="/m/accounts/{account.pk}/">Initech</a>' in html


def test_list_rows_show_people_lookups_and_picklist_badges(admin_user, standard_user, client_for):
    tier = actions.do_create_field(admin_user.org, "deals", api_name="tier", label_en="Tier", field_type="picklist",
                            options=[{"value": "gold", "color": "#d4af37"}], actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Parent"}, actor=standard_user)
    actions.do_create_record("deals", {"name": "Big", "account": account.pk, "stage": "won", tier.key: "gold"},
                             actor=standard_user)
    columns = "&".join(f"columns={key}" for key in ("owner", "account", "stage", tier.key))
    html, _queries = _page(client_for(standard_user), reverse("crm:list", args=["deals"]) + "?" + columns)
    assert "Parent" in html and str(standard_user) in html and "Closed won" in html
    assert '<span class="badge" data-bg-color="#d4af37">gold</span>' in html


def test_a_record_page_asks_the_visibility_of_its_controls_in_one_query(admin_user, standard_user, other_user,
                                                                          client_for):
    do_set_org_default(admin_user.org, "accounts", "public_read", actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Initech"}, actor=standard_user)
    url = reverse("crm:detail", args=["accounts", account.pk])
    own, own_queries = _page(client_for(standard_user), url)
    theirs, their_queries = _page(client_for(other_user), url)
    probes = [sql for sql in own_queries if "may_edit" in sql]
    assert len(probes) == 1 and "may_delete" in probes[0]
    # Both sides: the owner is offered edit and delete; a reader of a public-read record is not.
    assert reverse("crm:edit", args=["accounts", account.pk]) in own
    assert reverse("crm:delete", args=["accounts", account.pk]) in own
    assert reverse("crm:edit", args=["accounts", account.pk]) not in theirs
    assert reverse("crm:delete", args=["accounts", account.pk]) not in theirs
