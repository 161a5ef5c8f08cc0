"""Property: random sequences of edits (by users the rules lock the record for and users they
exempt, through every edit path), rule changes (each applied to the stored records, as the
settings page offers), manual locks and overrides never leave a record whose locks differ from
what its rules say, and never let a restricted write through.

The expected state is computed by a small model written here, independently of the code under
test: criteria are Python lambdas next to their JSON.
"""
from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from access.actions import do_set_org_default
from crm import actions
from crm.models import Deal
from locking import actions as locking
from locking.models import RecordLock
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LOCKING_EXAMPLES", "40"))

CRITERIA = {
    "closed": ({"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]},
               lambda d: d.stage in ("won", "lost")),
    "won": ({"all": [{"field": "stage", "op": "eq", "value": "won"}]}, lambda d: d.stage == "won"),
    "big": ({"all": [{"field": "amount", "op": "gt", "value": "1000"}]},
            lambda d: d.amount is not None and d.amount > 1000),
    "big_or_lost": ({"any": [{"field": "amount", "op": "gte", "value": "5000"},
                             {"field": "stage", "op": "eq", "value": "lost"}]},
                    lambda d: (d.amount is not None and d.amount >= 5000) or d.stage == "lost"),
    "everything": ({"all": []}, lambda d: True),
}
EDIT_FAMILY = {"page": "edit", "import": "import_update", "api": "edit", "bulk": "bulk_edit"}

# Hypothesis starts from the first choice of each list: the first ones make locks happen.
users = st.sampled_from(["exempt", "rep", "admin"])
records = st.integers(0, 2)
slots = st.integers(0, 1)
changes = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(["A", "B"]), "stage": st.sampled_from(["proposal", "won"])}),
    st.fixed_dictionaries({"stage": st.sampled_from(["proposal", "won", "lost"])}),
    st.fixed_dictionaries({"amount": st.sampled_from(["2000", "10", "9000", None])}),
    st.fixed_dictionaries({"name": st.sampled_from(["A", "B"])}),
)
edits = st.tuples(st.just("edit"), records, users, changes, st.sampled_from(list(EDIT_FAMILY)))
rule_changes = st.tuples(st.just("rule"), slots, st.sampled_from(list(CRITERIA)),
                         st.sampled_from([("edit", "bulk_edit", "import_update"), ("edit",), ("import_update",),
                                          ("edit", "add_note")]),
                         st.sampled_from([("name",), ()]), st.sampled_from(["selected", "all"]))
steps = st.one_of(
    edits, edits, edits, edits, rule_changes,
    st.tuples(st.just("drop_rule"), slots),
    st.tuples(st.just("lock"), records),
    st.tuples(st.just("unlock"), records),
    st.tuples(st.just("override"), records, slots),
    st.tuples(st.just("note"), records, users),
)


class Model:
    """What the locks should be, from the rules, overrides and manual locks the test made."""

    def __init__(self, people, rep_profile):
        self.people = people
        self.rep_profile = rep_profile
        self.rules = {}  # slot -> dict(rule, key, restricted, editable, locked_for)
        self.overrides = set()  # (record pk, rule pk)
        self.manual = set()  # record pks

    def matches(self, spec, deal) -> bool:
        return CRITERIA[spec["key"]][1](deal)

    def applies(self, spec_locked_for, user) -> bool:
        return spec_locked_for == "all" or user == "rep"

    def tidy(self, deals) -> None:
        """An override ends once its record stops matching the rule."""
        by_rule = {spec["rule"].pk: spec for spec in self.rules.values()}
        self.overrides = {(pk, rule_pk) for pk, rule_pk in self.overrides
                          if rule_pk in by_rule and self.matches(by_rule[rule_pk], deals[pk])}

    def rule_locks(self, deal) -> set[int]:
        return {spec["rule"].pk for spec in self.rules.values()
                if self.matches(spec, deal) and (deal.pk, spec["rule"].pk) not in self.overrides}

    def refuses(self, deal, user, restricted, changed: set[str]) -> bool:
        locks = [(spec["restricted"], spec["editable"], spec["locked_for"]) for spec in self.rules.values()
                 if spec["rule"].pk in self.rule_locks(deal)]
        if deal.pk in self.manual:
            locks.append((("edit", "bulk_edit", "import_update"), (), "all"))
        edit = restricted in EDIT_FAMILY.values()
        return any(restricted in r and self.applies(who, user) and not (edit and changed <= set(e))
                   for r, e, who in locks)


def _diff(deal, change) -> set[str]:
    current = {"stage": deal.stage, "amount": deal.amount, "name": deal.name}
    wanted = {k: (Decimal(v) if k == "amount" and v is not None else v) for k, v in change.items()}
    return {k for k, v in wanted.items() if current[k] != v}


@pytest.fixture
def world(org, admin_user, rep, exempt, sales_rep_profile):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    return {"admin": admin_user, "rep": rep, "exempt": exempt}, sales_rep_profile


def test_locks_always_match_the_rules_and_no_restricted_write_gets_through(org, world):
    people, rep_profile = world
    admin = people["admin"]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(plan=st.builds(lambda first, rest: [first, *rest], rule_changes,
                          st.lists(steps, min_size=3, max_size=12)),
           stages=st.lists(st.sampled_from(["won", "lost", "proposal"]), min_size=3, max_size=3),
           manual=st.booleans())
    def check(plan, stages, manual):
        with transaction.atomic():
            locking.do_save_lock_config(org, "deals", enabled=True, manual_enabled=manual, actor=admin)
            model = Model(people, rep_profile)
            model.manual_enabled = manual
            pks = [actions.do_create_record("deals", {"name": f"Deal {n}", "stage": stage}, actor=admin).pk
                   for n, stage in enumerate(stages)]
            for step in plan:
                note(f"step {step}")
                run(step, model, pks)
                deals = {d.pk: d for d in Deal.objects.filter(pk__in=pks)}
                model.tidy(deals)
                for pk, deal in deals.items():
                    stored = set(RecordLock.objects.filter(record_id=pk, kind="rule", org=org)
                                 .values_list("rule_id", flat=True))
                    assert stored == model.rule_locks(deal), f"deal {pk}"
                    overrides = set(RecordLock.objects.filter(record_id=pk, kind="override", org=org)
                                    .values_list("rule_id", flat=True))
                    assert overrides == {rule for record, rule in model.overrides if record == pk}
            transaction.set_rollback(True)

    def attempt_edit(model, deal, who, change, path) -> bool:
        changed = _diff(deal, change)
        refused = bool(changed) and model.refuses(deal, who, EDIT_FAMILY[path], changed)
        try:
            actions.do_update_record(deal, dict(change), version=version_of(deal), actor=people[who], path=path)
            outcome = False
        except PermissionDenied:
            outcome = True
        assert outcome == refused, f"{who} {change} by {path}: refused={outcome}, expected {refused}"
        if refused:
            assert Deal.objects.get(pk=deal.pk).version == deal.version  # nothing changed
        return refused

    def run(step, model, pks):
        kind = step[0]
        if kind == "edit":
            _, index, who, change, path = step
            deal = Deal.objects.get(pk=pks[index])
            # Every user by every path tries the same change (each try rolled back) ...
            for other in people:
                for other_path in EDIT_FAMILY:
                    with transaction.atomic():
                        attempt_edit(model, deal, other, change, other_path)
                        transaction.set_rollback(True)
            # ... then the chosen one is kept.
            refused = attempt_edit(model, deal, who, change, path)
            event("edit refused" if refused else "edit allowed")
        elif kind == "rule":
            _, slot, key, restricted, editable, locked_for = step
            values = dict(criteria=CRITERIA[key][0], restricted_actions=list(restricted),
                          editable_fields=list(editable),
                          locked_for=locked_for, profiles=[rep_profile.pk] if locked_for == "selected" else [],
                          actor=admin)
            if slot in model.rules:
                rule = locking.do_update_lock_rule(model.rules[slot]["rule"], name=f"Rule {slot}", **values)
            else:
                rule = locking.do_create_lock_rule(org, "deals", name=f"Rule {slot}", **values)
            model.rules[slot] = {"rule": rule, "key": key, "restricted": restricted, "editable": editable,
                                 "locked_for": locked_for}
            locking.do_apply_rule_to_existing(rule, actor=admin)
        elif kind == "drop_rule":
            spec = model.rules.pop(step[1], None)
            if spec is not None:
                locking.do_delete_lock_rule(spec["rule"], actor=admin)
        elif kind in ("lock", "unlock") and not model.manual_enabled:
            with pytest.raises(PermissionDenied):
                locking.do_lock_record(Deal.objects.get(pk=pks[step[1]]), actor=admin)
        elif kind == "lock":
            pk = pks[step[1]]
            if pk in model.manual:
                with pytest.raises(actions.RecordValidationError):
                    locking.do_lock_record(Deal.objects.get(pk=pk), actor=admin)
            else:
                locking.do_lock_record(Deal.objects.get(pk=pk), "reason", actor=admin)
                model.manual.add(pk)
        elif kind == "unlock":
            pk = pks[step[1]]
            if pk in model.manual:
                locking.do_unlock_record(Deal.objects.get(pk=pk), actor=admin)
                model.manual.discard(pk)
            else:
                with pytest.raises(actions.RecordValidationError):
                    locking.do_unlock_record(Deal.objects.get(pk=pk), actor=admin)
        elif kind == "override":
            _, index, slot = step
            deal = Deal.objects.get(pk=pks[index])
            spec = model.rules.get(slot)
            if spec is None:
                return
            if spec["rule"].pk in model.rule_locks(deal):
                locking.do_override_unlock(deal, spec["rule"], "because", actor=admin)
                model.overrides.add((deal.pk, spec["rule"].pk))
            else:
                with pytest.raises(actions.RecordValidationError):
                    locking.do_override_unlock(deal, spec["rule"], "because", actor=admin)
        elif kind == "note":
            _, index, who = step
            deal = Deal.objects.get(pk=pks[index])
            refused = model.refuses(deal, who, "add_note", set())
            try:
                actions.do_add_note(deal, "hello", actor=people[who])
                outcome = False
            except PermissionDenied:
                outcome = True
            assert outcome == refused

    check()
