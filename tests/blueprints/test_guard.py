"""While a record is in a blueprint, its state field changes only through a transition: every
write path is refused with the reason (edit page, inline edit, bulk edit, kanban drag, and any
other path such as import or the API, since the guard does not look at the path), while the
other fields stay editable and records outside the blueprint are untouched."""
from __future__ import annotations

import html

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.decisions import decide, decide_many
from crm import actions as crm_actions
from crm.models import Deal, TimelineEntry
from tests.factories import DealFactory
from tests.helpers import version_of

from .bp_helpers import deal_pipeline

pytestmark = pytest.mark.django_db
REASON = "moves only through the blueprint's transitions"


@pytest.fixture
def governed(org, admin_user, standard_user):
    """Sam's deal in the pipeline (only deals named "Big…" are governed) and one outside it."""
    deal_pipeline(org, admin_user, criteria={"all": [{"field": "name", "op": "starts_with", "value": "Big"}]})
    inside = DealFactory(actor=standard_user, name="Big deal")
    outside = DealFactory(actor=standard_user, name="Small deal")
    return inside, outside


def text(response) -> str:
    return html.unescape(response.content.decode())


def stage(deal) -> str:
    return Deal.objects.get(pk=deal.pk).stage


def refused_entries(deal) -> int:
    return TimelineEntry.objects.filter(record_id=deal.pk, kind="refused").count()


def test_edit_page_refuses_the_state_and_saves_nothing(governed, standard_user, client_for):
    inside, outside = governed
    client = client_for(standard_user)
    page = client.get(reverse("crm:edit", args=["deals", inside.pk]))
    assert REASON in text(page)  # the field is shown read-only, with the reason
    # The read-only field's posted value is ignored: the rest of the form saves, the stage does not.
    response = client.post(reverse("crm:edit", args=["deals", inside.pk]),
                           {"name": "Big deal", "stage": "won", "amount": "7", "version": version_of(inside)})
    assert response.status_code == 302
    assert stage(inside) == "qualification" and Deal.objects.get(pk=inside.pk).amount == 7
    # The same form on a record outside the blueprint saves the stage.
    response = client.post(reverse("crm:edit", args=["deals", outside.pk]),
                           {"name": "Small deal", "stage": "won", "version": version_of(outside)})
    assert response.status_code == 302
    assert stage(outside) == "won"


def test_inline_edit_is_refused_with_the_reason(governed, standard_user, client_for):
    inside, _outside = governed
    client = client_for(standard_user)
    response = client.post(reverse("crm:field", args=["deals", inside.pk, "stage"]),
                           {"stage": "won", "version": version_of(inside)})
    assert response.status_code == 403
    assert REASON in text(response)
    assert stage(inside) == "qualification"
    assert refused_entries(inside) == 1
    # Another field of the same record is still edited inline.
    response = client.post(reverse("crm:field", args=["deals", inside.pk, "amount"]),
                           {"amount": "500", "version": version_of(inside)})
    assert response.status_code == 200
    assert Deal.objects.get(pk=inside.pk).amount == 500


def test_bulk_edit_refuses_all_when_one_record_is_in_a_blueprint(governed, standard_user, client_for):
    inside, outside = governed
    client = client_for(standard_user)
    response = client.post(reverse("crm:bulk_edit", args=["deals"]), {
        "field": "stage", "value": "won",
        "ids": [f"{inside.pk}:{version_of(inside)}", f"{outside.pk}:{version_of(outside)}"]})
    assert response.status_code == 403
    assert REASON in text(response)
    assert (stage(inside), stage(outside)) == ("qualification", "qualification")


def test_kanban_drag_is_refused_and_the_card_is_not_draggable(governed, standard_user, client_for):
    inside, outside = governed
    client = client_for(standard_user)
    response = client.post(reverse("crm:kanban_move", args=["deals", inside.pk]),
                           {"field": "stage", "value": "won", "version": version_of(inside)})
    assert response.status_code == 403
    assert REASON in response.json()["error"]
    assert stage(inside) == "qualification"
    decisions = decide_many(standard_user, [inside, outside], "edit", {"stage": None}, path="kanban", fields=False)
    assert (decisions[inside.pk].allowed, decisions[outside.pk].allowed) == (False, True)
    assert REASON in decisions[inside.pk].reason


@pytest.mark.parametrize("path", ["import", "api", "rule:workflow:1", "blueprint:1", "system"])
def test_the_guard_does_not_care_about_the_path(governed, standard_user, path):
    """Import (not built yet), the API and rules write through the same action: refused alike, even
    when the path names a blueprint transition."""
    inside, _outside = governed
    with pytest.raises(PermissionDenied, match=REASON):
        crm_actions.do_update_record(inside, {"stage": "won"}, version=version_of(inside), actor=standard_user,
                                     path=path)
    assert stage(inside) == "qualification"


def test_the_decision_point_marks_the_state_read_only_and_keeps_the_rest(governed, standard_user, admin_user):
    inside, outside = governed
    for user in (standard_user, admin_user):  # administrators too: the process binds everyone
        decision = decide(user, inside, "edit")
        assert decision.allowed and REASON in decision.read_only["stage"]
        assert not decide(user, inside, "edit", {"stage": "won"}).allowed
        assert decide(user, inside, "edit", {"amount": "5"}).allowed
    assert "stage" not in decide(standard_user, outside, "edit").read_only


def test_a_new_governed_record_starts_in_the_start_state(governed, standard_user):
    with pytest.raises(PermissionDenied, match="starts in"):
        crm_actions.do_create_record("deals", {"name": "Big shortcut", "stage": "won"}, actor=standard_user)
    assert not Deal.objects.filter(name="Big shortcut").exists()
    started = crm_actions.do_create_record("deals", {"name": "Big start"}, actor=standard_user)
    assert started.stage == "qualification"
    # A record the criteria leave out is created in any stage.
    assert crm_actions.do_create_record("deals", {"name": "Tiny", "stage": "won"}, actor=standard_user).stage == "won"


def test_a_record_that_stops_matching_leaves_and_its_state_is_free_again(governed, standard_user):
    from blueprints.models import BlueprintRecord

    inside, _outside = governed
    assert BlueprintRecord.objects.filter(record_id=inside.pk, module="deals").exists()
    renamed = crm_actions.do_update_record(inside, {"name": "Renamed"}, version=version_of(inside),
                                           actor=standard_user)
    assert not BlueprintRecord.objects.filter(record_id=inside.pk, module="deals").exists()
    crm_actions.do_update_record(renamed, {"stage": "won"}, version=version_of(renamed), actor=standard_user)
    assert stage(inside) == "won"
    assert TimelineEntry.objects.filter(record_id=inside.pk, kind="blueprint_left").count() == 1
