"""The org-wide defaults are cached in the real Redis, shared by processes, and dropped on change."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from access.actions import do_add_user, do_set_org_default, do_sign_up
from access.models import Membership
from access.visibility import bind_org, defaults_cache_key, visible
from crm import actions
from crm.modules import get_module

pytestmark = pytest.mark.django_db(transaction=True)


def test_cached_defaults_follow_changes_across_fresh_user_objects():
    admin_membership = do_sign_up(org_name="Cachely", username="cache-admin", email="c@x.test",
                                  password="cache-pass-2026")
    org = admin_membership.org
    admin = bind_org(admin_membership.user, org, admin_membership)
    owner = do_add_user(org, username="owner1", email="o@x.test", password="cache-pass-2026", role="standard",
                        actor=admin)
    reader = do_add_user(org, username="reader1", email="r@x.test", password="cache-pass-2026", role="standard",
                         actor=admin)
    account = actions.do_create_record("accounts", {"name": "Shared"}, actor=bind_org(owner.user, org, owner))
    schema = get_module("accounts")

    def reader_sees() -> bool:
        membership = Membership.objects.select_related("org").get(pk=reader.pk)  # as a new request would
        return visible(bind_org(membership.user, membership.org, membership), schema).filter(pk=account.pk).exists()

    assert reader_sees()  # accounts default: public read/write
    assert cache.get(defaults_cache_key(org.pk)) is not None  # now shared through Redis
    do_set_org_default(org, "accounts", "private", actor=admin)
    assert not reader_sees()
    do_set_org_default(org, "accounts", "public_read", actor=admin)
    assert reader_sees()
