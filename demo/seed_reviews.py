"""The demo's review process: leads that come from a referral have the referring employee's name
checked by the head of sales before anyone works on them. Sally has just entered one, so Sam
finds it on My Work ("My reviews")."""
from __future__ import annotations

from typing import Any

from access.models import OrgRole
from access.visibility import bind_org
from crm import actions
from reviews.actions import do_create_review_process


def seed_reviews(org: Any, admin: Any, users: list) -> None:
    by_name = {u.username: u for u in users}
    field = actions.do_create_field(org, "leads", api_name="employee_name", label_en="Employee name",
                                    label_zh="推荐员工姓名", field_type="text", actor=admin)
    head_of_sales = OrgRole.objects.filter(org=org, name="Head of Sales").first()
    reviewers = {"roles": [head_of_sales.pk]} if head_of_sales else {"users": [admin.pk]}
    do_create_review_process(org, "leads", {
        "name": "Referral check", "paths": ["page", "request", "import", "api"], "fields": [field.key],
        "criteria": {"all": [{"field": "source", "op": "eq", "value": "referral"}]},
        "reviewers": reviewers, "active": True}, actor=admin)
    sally = by_name.get("sally") or admin
    sally = bind_org(sally, org, sally.membership)
    actions.do_create_record("leads", {"first_name": "Lin", "last_name": "Wei", "company": "Harbour Logistics",
                                       "source": "referral", field.key: "Sofia Sanches"}, actor=sally, path="page")
