"""The demo's Case Study blueprint: seeded through the actions, published, governing the marketing
team's case studies, with the deliverable (a file field) required on "Done"."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from access.models import Organization
from blueprints.models import Blueprint, Transition
from crm.models import FieldDefinition
from demo.seed_blueprints import seed_blueprints

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_published_case_study_blueprint():
    call_command("seed_demo", scale=0.1)
    org = Organization.objects.get(name="Zylker")
    bp = Blueprint.objects.get(org=org, name="Case study")
    assert bp.status == "published" and bp.field == "status" and bp.module.startswith("team-")
    deliverable = FieldDefinition.objects.get(org=org, module=bp.module, api_name="deliverable")
    assert deliverable.field_type == "file" and deliverable.shown_to_requesters
    assert Transition.objects.get(blueprint=bp, name="Done").during["fields"] == [
        {"key": deliverable.key, "required": True}]
    assert seed_blueprints(org) is None  # idempotent
