"""Upgrading moves manual shares from the old RecordShare table into guardian permission rows:
no share is lost, access levels are kept, group shares follow the group's auth group."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("access", "0006_group_auth_group"), ("crm", "0005_remove_account_account_org_owner_and_more")]


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


@pytest.mark.django_db(transaction=True)
def test_record_shares_become_guardian_permissions():
    executor = _executor()
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    try:
        org = old.get_model("access", "Organization").objects.create(name="Acme")
        users = old.get_model("access", "User").objects
        owner, reader, writer = (users.create(username=name) for name in ("owner", "reader", "writer"))
        twin = old.get_model("auth", "Group").objects.create(name="twin-of-partners")
        group = old.get_model("access", "Group").objects.create(org=org, name="Partners", auth_group=twin)
        deal = old.get_model("crm", "Deal").objects.create(org=org, owner=owner, name="Big deal")
        shares = old.get_model("access", "RecordShare").objects
        shares.create(org=org, module="deals", record_id=deal.pk, user=reader, access="read", granted_by=owner)
        shares.create(org=org, module="deals", record_id=deal.pk, user=writer, access="read_write")
        shares.create(org=org, module="deals", record_id=deal.pk, group=group, access="read")
        shares.create(org=org, module="deals", record_id=deal.pk + 999, user=reader, access="read")  # record gone
    finally:
        _executor().migrate(latest)

    from access.shares import record_shares
    from crm.models import Deal, DealUserShare

    record = Deal.objects.get(name="Big deal")
    found = {(share.target.pk, share.access) for share in record_shares(record)}
    assert found == {(reader.pk, "read"), (writer.pk, "read_write"), (group.pk, "read")}
    assert [s.granted_by.pk for s in record_shares(record) if s.user and s.user.pk == reader.pk] == [owner.pk]
    assert DealUserShare.objects.filter(content_object_id=deal.pk + 999).count() == 0
