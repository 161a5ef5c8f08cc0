"""The navigation bar's My Work badge counts the records on which the user owns a blueprint
transition offered now (as it counts approvals and reviews awaiting them): for an owner, not for
someone who may edit the record but owns no transition; capped, at a cost that does not grow
with the records."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_org_default
from access.sharing_actions import do_create_role, do_set_user_role
from blueprints import actions
from blueprints.ui import transitions_i_own, transitions_waiting
from crm.models import Deal
from tests.blueprints.bp_helpers import deal_pipeline
from tests.factories import DealFactory
from tests.helpers import fresh

pytestmark = pytest.mark.django_db


def badge(client_for, user) -> str:
    return client_for(user).get(reverse("work:count")).content.decode()


def test_the_badge_counts_for_an_owner_and_not_for_someone_who_owns_no_transition(
        org, admin_user, standard_user, other_user, client_for):
    deal_pipeline(org, admin_user)  # every transition is the deal owner's
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)  # Olga may edit Sam's deals too
    for i in range(3):
        DealFactory(actor=standard_user, name=f"Deal {i}")
    assert transitions_waiting(fresh(standard_user)) == 3
    assert 'data-testid="my-work-count">3<' in badge(client_for, standard_user)
    assert transitions_waiting(fresh(other_user)) == 0
    assert "my-work-count" not in badge(client_for, other_user)
    # The section and the badge agree.
    assert transitions_i_own(fresh(standard_user)).count == 3


def test_owners_by_role_count_only_from_the_states_their_transition_leaves(org, admin_user, standard_user,
                                                                         other_user, client_for):
    legal = do_create_role(org, name="Legal", actor=admin_user)
    do_set_user_role(other_user.membership, legal, actor=admin_user)
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    _bp, t = deal_pipeline(org, admin_user, **{"Win": {"roles": [legal.pk]}})
    deals = [DealFactory(actor=standard_user, name=f"Deal {i}") for i in range(2)]
    assert transitions_waiting(fresh(other_user)) == 0  # Win leaves negotiation only
    actions.do_transition(deals[0], t["Send proposal"], actor=standard_user)
    actions.do_transition(Deal.objects.get(pk=deals[0].pk), t["Negotiate"], {"amount": "100"}, note="Agreed",
                          actor=standard_user)
    assert transitions_waiting(fresh(other_user)) == 1
    assert 'data-testid="my-work-count">1<' in badge(client_for, other_user)
    # Sam still owns Lose on both and nothing else on the one in negotiation (Win is Legal's).
    assert transitions_waiting(fresh(standard_user)) == 2


def test_conditions_that_do_not_hold_are_not_counted(org, admin_user, standard_user):
    _bp, t = deal_pipeline(org, admin_user, publish=False)
    bp = t["Send proposal"].blueprint
    for name, transition in t.items():
        actions.do_save_transition(bp, transition, actor=admin_user, name=name, any_state=transition.any_state,
                                   from_states=transition.from_states, to_state=transition.to_state,
                                   owners=transition.owners, during=transition.during,
                                   before={"all": [{"field": "amount", "op": "gt", "value": "1000"}]})
    actions.do_publish_blueprint(bp, actor=admin_user)
    DealFactory(actor=standard_user, name="Small", amount="10")
    DealFactory(actor=standard_user, name="Big", amount="5000")
    assert transitions_waiting(fresh(standard_user)) == 1


def test_the_count_is_capped_and_costs_the_same_however_many_records(org, admin_user, standard_user, monkeypatch):
    import blueprints.ui as ui

    deal_pipeline(org, admin_user)
    monkeypatch.setattr(ui, "COUNT_CAP", 4)
    for i in range(3):
        DealFactory(actor=standard_user, name=f"Deal {i}")
    user = fresh(standard_user)
    transitions_waiting(user)
    with CaptureQueriesContext(connection) as few:
        assert transitions_waiting(user) == 3
    for i in range(6):
        DealFactory(actor=standard_user, name=f"More {i}")
    with CaptureQueriesContext(connection) as many:
        assert transitions_waiting(user) == 5  # 4+: exact up to the cap, then cap + 1
    assert len(many.captured_queries) == len(few.captured_queries)
    counting = [q["sql"] for q in many.captured_queries if "count(*)" in q["sql"]]
    assert counting and all("LIMIT 5" in sql for sql in counting)
    section = transitions_i_own(user)
    assert section.count == 4 and section.capped
