"""The approval process form, through its views: the final actions edited row by row with the
workflow rules' action editor, up to ten levels shown a level at a time, and bad input shown
under the right level or row with nothing saved (never a 500)."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from access.sharing_actions import do_create_role
from approvals.models import ApprovalProcess

pytestmark = pytest.mark.django_db


def base(**extra):
    return {"name": "Big discounts", "trigger": "create_or_edit", "active": "on", "joiner": "all",
            "c0_field": "discount", "c0_op": "gt", "c0_value": "12", **extra}


def four_levels(admin_user, standard_user, role):
    return {"l1_rule": "any", "l1_manager": "on",
            "l2_rule": "all", "l2_users": [str(admin_user.pk), str(standard_user.pk)],
            "l3_rule": "any", "l3_roles": [str(role.pk)],
            "l4_rule": "any", "l4_superiors": "2"}


def two_actions(prefix="approve"):
    return {f"{prefix}0-type": "field_update", f"{prefix}0-field_update-field": "stage",
            f"{prefix}0-field_update-value": "negotiation",
            f"{prefix}1-type": "notify", f"{prefix}1-notify-owner": "on", f"{prefix}1-notify-message": "Approved"}


def level_box(html: str, n: int) -> str:
    """The page from level n's box to the next level's."""
    return html.split(f'data-level="{n}"', 1)[1].split(f'data-level="{n + 1}"', 1)[0]


def action_row(html: str, prefix: str, index: int) -> str:
    """The page from the start of that action's row to the start of the next row."""
    return next(chunk for chunk in html.split('data-action-row="') if f'name="{prefix}{index}-type"' in chunk)


def test_create_and_edit_a_process_with_two_actions_and_four_levels(org, admin_user, standard_user, client_for):
    role = do_create_role(org, name="Finance", actor=admin_user)
    client = client_for(admin_user)
    new = client.get(reverse("approvals:process_new", args=["deals"])).content.decode()
    # A new process shows one level; the nine others wait behind "Add level". No JSON to type.
    assert 'data-level="1"' in new and 'hidden' not in re.search(r'<fieldset[^>]*data-level="1"[^>]*>', new).group(0)
    assert re.search(r'<fieldset[^>]*data-level="2"[^>]*hidden', new) and 'data-level="10"' in new
    assert 'data-testid="add-level"' in new and 'name="approve0-type"' in new and 'name="reject0-type"' in new
    assert 'name="on_approve"' not in new and 'approve0-delay_amount' not in new
    response = client.post(reverse("approvals:process_new", args=["deals"]), {
        **base(), **four_levels(admin_user, standard_user, role), **two_actions("approve"),
        "reject0-type": "notify", "reject0-notify-owner": "on", "reject0-notify-message": "Rejected: {{name}}"})
    assert response.status_code == 302, response.content.decode()[-3000:]
    process = ApprovalProcess.objects.get(org=org, name="Big discounts")
    levels = list(process.levels.order_by("order"))
    assert [(lv.order, lv.rule) for lv in levels] == [(1, "any"), (2, "all"), (3, "any"), (4, "any")]
    assert levels[1].approvers["users"] == sorted([admin_user.pk, standard_user.pk])
    assert levels[2].approvers["roles"] == [role.pk] and levels[3].approvers["superiors"] == 2
    assert process.on_approve[0] == {"type": "field_update", "field": "stage", "value": "negotiation"}
    assert process.on_approve[1]["type"] == "notify" and process.on_approve[1]["message"] == "Approved"
    assert process.on_approve[1]["owner"] and len(process.on_approve) == 2
    assert [a["type"] for a in process.on_reject] == ["notify"]
    # Editing: the four levels and a fifth, empty one are shown; the actions are rows to change.
    url = reverse("approvals:process_edit", args=[process.pk])
    page = client.get(url).content.decode()
    assert all("hidden" not in re.search(rf'<fieldset[^>]*data-level="{n}"[^>]*>', page).group(0) for n in range(1, 6))
    assert re.search(r'<fieldset[^>]*data-level="6"[^>]*hidden', page)
    assert re.search(r'name="approve0-type"[^>]*>.*?<option value="field_update" selected', page, re.S)
    assert re.search(r'name="approve1-type"[^>]*>.*?<option value="notify" selected', page, re.S)
    # Remove the first action, drop level 4, add a level 5 after it... an empty level 4 is refused.
    edited = {**base(), **four_levels(admin_user, standard_user, role), **two_actions("approve"),
              "approve0-type": "", "l4_superiors": "", "l5_rule": "any", "l5_manager": "on"}
    bad = client.post(url, edited)
    assert bad.status_code == 422
    assert "Choose at least one approver." in level_box(bad.content.decode(), 4)
    assert ApprovalProcess.objects.get(pk=process.pk).levels.count() == 4
    edited.pop("l5_manager")
    assert client.post(url, edited).status_code == 302
    process.refresh_from_db()
    assert process.levels.count() == 3 and [a["type"] for a in process.on_approve] == ["notify"]
    assert process.on_reject == []


def test_bad_input_is_shown_under_its_row_or_level_and_nothing_is_saved(org, admin_user, standard_user, client_for):
    role = do_create_role(org, name="Finance", actor=admin_user)
    client = client_for(admin_user)
    url = reverse("approvals:process_new", args=["deals"])
    cases = [
        # An unknown field in an action: under that action's field.
        ({**four_levels(admin_user, standard_user, role), **two_actions("approve"),
          "approve1-type": "field_update", "approve1-field_update-field": "nope"}, ("approve", 1), "nope"),
        # A value the field does not take: under that row, by the kind's own check.
        ({**four_levels(admin_user, standard_user, role), "reject0-type": "field_update",
          "reject0-field_update-field": "amount", "reject0-field_update-value": "lots"}, ("reject", 0), None),
        # An unknown kind of action.
        ({**four_levels(admin_user, standard_user, role), "approve0-type": "launch_rocket"}, ("approve", 0),
         "launch_rocket"),
        # A level with no approver before one that has some.
        ({"l1_manager": "on", "l3_manager": "on"}, ("level", 2), "Choose at least one approver."),
        # Out of range.
        ({"l1_superiors": "11"}, ("level", 1), None),
        # No level at all.
        ({}, None, "Add at least one level of approvers."),
    ]
    for data, where, text in cases:
        response = client.post(url, {**base(), **data})
        assert response.status_code == 422, data
        html = response.content.decode()
        if where and where[0] == "level":
            box = level_box(html, where[1])
            assert "invalid-feedback" in box or "level-errors" in box, data
            if text:
                assert text in box
        elif where:
            row = action_row(html, *where)
            assert "invalid-feedback" in row or "alert-danger" in row, (data, row[:2000])
            if text:
                assert text in row
        else:
            assert text in html
    assert not ApprovalProcess.objects.exists()


def test_an_action_row_for_the_final_actions_is_added_with_htmx(admin_user, standard_user, client_for):
    client = client_for(admin_user)
    url = reverse("automation:workflow_action_row", args=["deals"])
    response = client.get(f"{url}?editor=on_reject&index=2", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and 'name="reject2-type"' in body and "reject2-delay_amount" not in body
    assert 'id="on_reject-add-action"' in body and "index=3" in body
    assert client.get(f"{url}?editor=nope&index=2").status_code == 404
    assert client.get(f"{url}?editor=on_approve&index=10").content.decode().count("At most 10 actions.") == 1
    assert client_for(standard_user).get(f"{url}?editor=on_approve&index=1").status_code == 404


def test_the_process_form_in_chinese(admin_user, client_for):
    client = client_for(admin_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("approvals:process_new", args=["deals"])).content.decode()
    assert "添加级别" in page and "最终操作以保存此流程的人的身份" in page
