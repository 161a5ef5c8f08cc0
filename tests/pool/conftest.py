"""Pools made through the actions: a leads pool "China East" with masked phone and e-mail, rep
`sally` its member, and leads waiting in it (released by their owner, the admin)."""
from __future__ import annotations

import pytest

from crm import actions as crm_actions
from crm.modules import get_module
from pool import actions


def make_pool(admin, name="China East", module="leads", members=(), admins=(), **limits):
    values = {"masked_fields": ["phone", "email"] if module == "leads" else ["phone"]}
    values.update(limits)
    return actions.do_save_pool(admin.org, actor=admin, name=name, module=module,
                                members={"users": list(members)}, admins=list(admins), **values)


def waiting_leads(admin, pool, count=3, prefix="Lead"):
    """Leads the admin makes and releases into the pool (newest entry last)."""
    schema = get_module("leads", admin.org)
    made = [crm_actions.do_create_record(schema, {
        "last_name": f"{prefix}{i}", "company": f"{prefix} Co {i}", "phone": f"1380013{i:04d}",
        "email": f"zhang{i}@example.com"}, actor=admin) for i in range(count)]
    actions.do_release_records(schema, [r.pk for r in made], pool.pk, actor=admin, reason="Not my region")
    return made


@pytest.fixture
def sally(org, make_user):
    return make_user(org, username="sally")


@pytest.fixture
def leads_pool(admin_user, sally):
    return make_pool(admin_user, members=[sally])
