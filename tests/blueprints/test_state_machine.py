"""A hypothesis state machine over a blueprint's transitions: people (owners and not) try
transitions and direct edits of the state on a few deals in any order. Invariants: a deal's state
is always reachable from the start state in the published graph ("won" is not, and is never
reached), its blueprint row follows it, and no one ever performed a transition they do not own
(the decision point and the action agree at every step)."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from access.actions import do_set_org_default
from access.decisions import decide
from access.sharing_actions import do_create_role, do_set_user_role
from blueprints import actions
from blueprints.models import BlueprintRecord, Transition
from crm import actions as crm_actions
from crm.models import Deal, TimelineEntry
from tests.helpers import fresh

pytestmark = pytest.mark.django_db
STAGES = ["qualification", "proposal", "negotiation", "won", "lost"]


@pytest.fixture
def world(org, admin_user, make_user):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    legal = do_create_role(org, name="Legal", actor=admin_user)
    rep, lawyer, outsider = (make_user(org, username=n) for n in ("rep", "lawyer", "outsider"))
    do_set_user_role(lawyer.membership, legal, actor=admin_user)
    lawyer = fresh(lawyer)
    bp = actions.do_create_blueprint(org, "deals", name="Pipeline", field="stage", actor=admin_user)
    for name, values in {
        "Propose": dict(from_states=["qualification"], to_state="proposal", owners={"owner": True}),
        "Review": dict(from_states=["proposal"], to_state="negotiation", owners={"roles": [legal.pk]}),
        "Back": dict(from_states=["negotiation", "proposal"], to_state="qualification", owners={"owner": True}),
        "Lose": dict(any_state=True, to_state="lost", owners={"users": [outsider.pk]}),
        "Reopen": dict(from_states=["lost"], to_state="qualification", owners={"roles": [legal.pk]}),
    }.items():
        actions.do_save_transition(bp, actor=admin_user, name=name, **values)
    bp = actions.do_publish_blueprint(bp, actor=admin_user)
    transitions = list(Transition.objects.filter(blueprint=bp).order_by("position"))
    reachable = {bp.start_state}
    while True:  # the published graph's closure from the start state
        more = {t.to_state for t in transitions if t.any_state or reachable & set(t.from_states)} - reachable
        if not more:
            break
        reachable |= more
    return {"users": [rep, lawyer, outsider, admin_user], "rep": rep, "transitions": transitions,
            "reachable": reachable}


def test_transitions_keep_records_in_the_graph_and_in_the_owners_hands(world):
    users, transitions, reachable = world["users"], world["transitions"], world["reachable"]
    assert reachable == {"qualification", "proposal", "negotiation", "lost"}

    class Blueprinted(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.deals = [crm_actions.do_create_record("deals", {"name": f"Deal {i}"}, actor=world["rep"])
                          for i in range(2)]
            self.performed: list[tuple[int, int]] = []  # (user pk, transition pk)

        @rule(deal=st.integers(0, 1), transition=st.integers(0, len(transitions) - 1),
              user=st.integers(0, len(users) - 1))
        def try_transition(self, deal: int, transition: int, user: int) -> None:
            record = Deal.objects.get(pk=self.deals[deal].pk)
            chosen, who = transitions[transition], users[user]
            allowed = decide(who, record, "transition", {"transition": chosen}).allowed
            try:
                actions.do_transition(record, chosen, actor=who)
                done = True
            except PermissionDenied:
                done = False
            assert done == allowed, (who.username, chosen.name, record.stage)
            if done:
                self.performed.append((who.pk, chosen.pk))

        @rule(deal=st.integers(0, 1), stage=st.sampled_from(STAGES), user=st.integers(0, len(users) - 1))
        def try_editing_the_stage(self, deal: int, stage: str, user: int) -> None:
            record = Deal.objects.get(pk=self.deals[deal].pk)
            if record.stage == stage:
                return
            with pytest.raises(PermissionDenied):
                crm_actions.do_update_record(record, {"stage": stage}, version=record.version, actor=users[user],
                                             path="kanban")

        @invariant()
        def states_stay_in_the_published_graph(self) -> None:
            for deal in self.deals:
                stage = Deal.objects.get(pk=deal.pk).stage
                assert stage in reachable
                member = BlueprintRecord.objects.filter(module="deals", record_id=deal.pk).first()
                assert member is not None and member.state == stage

        @invariant()
        def only_owners_performed_transitions(self) -> None:
            by_pk = {t.pk: t for t in transitions}
            for user_pk, transition_pk in self.performed:
                owners = by_pk[transition_pk].owners
                user = next(u for u in users if u.pk == user_pk)
                role = user.membership.org_role_id
                assert ((owners.get("owner") and user_pk == world["rep"].pk) or user_pk in owners.get("users", [])
                        or role in owners.get("roles", [])), (user.username, by_pk[transition_pk].name)
            logged = TimelineEntry.objects.filter(kind="transition", record_id__in=[d.pk for d in self.deals]).count()
            assert logged == len(self.performed)

    run_state_machine_as_test(Blueprinted, settings=settings(
        max_examples=12, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
