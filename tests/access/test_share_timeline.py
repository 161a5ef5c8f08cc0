"""Sharing and unsharing a record are entries on its timeline (written through the listener
crm registers with access, which itself knows no timeline)."""
from __future__ import annotations

import pytest
from django.urls import reverse

from access.actions import do_set_org_default
from access.share_actions import do_revoke_share, do_share_record
from access.shares import READ
from crm import actions
from crm.models import TimelineEntry

pytestmark = pytest.mark.django_db


def entries(record):
    return list(TimelineEntry.objects.filter(record_id=record.pk, record_type__model="deal").order_by("pk"))


def test_share_and_unshare_are_on_the_timeline(org, admin_user, standard_user, other_user, client_for):
    do_set_org_default(org, "deals", "private", actor=admin_user)
    deal = actions.do_create_record("deals", {"name": "Shared deal"}, actor=standard_user)
    share = do_share_record(org, "deals", deal, user=other_user, access=READ, actor=standard_user)
    shared = entries(deal)[-1]
    assert (shared.kind, shared.actor_id) == ("shared", standard_user.pk)
    assert shared.changes == {"shared_with": [None, {"id": other_user.pk, "name": "Olga"}], "access": [None, "read"]}
    page = client_for(standard_user).get(deal.get_absolute_url()).content.decode()
    assert "Shared with" in page and "Read only" in page
    do_revoke_share(share, actor=standard_user)
    unshared = entries(deal)[-1]
    assert unshared.kind == "unshared" and unshared.changes["shared_with"] == [{"id": other_user.pk, "name": "Olga"},
                                                                               None]


def test_a_refused_share_leaves_no_entry(org, admin_user, standard_user, other_user):
    from django.core.exceptions import PermissionDenied

    do_set_org_default(org, "deals", "public_read", actor=admin_user)
    deal = actions.do_create_record("deals", {"name": "Not yours"}, actor=admin_user)
    with pytest.raises(PermissionDenied):
        do_share_record(org, "deals", deal, user=other_user, access=READ, actor=standard_user)
    assert [e.kind for e in entries(deal)] == ["created"]


def test_sharing_from_the_page_writes_the_entry(org, admin_user, standard_user, other_user, client_for):
    deal = actions.do_create_record("deals", {"name": "Page share"}, actor=standard_user)
    response = client_for(standard_user).post(reverse("crm:share_add", args=["deals", deal.pk]),
                                              {"target": f"user:{other_user.pk}", "access": "read_write"})
    assert response.status_code == 302
    assert entries(deal)[-1].kind == "shared" and entries(deal)[-1].changes["access"] == [None, "read_write"]
