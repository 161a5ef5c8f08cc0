"""The demo's Case Study blueprint: seeded through the actions, published, governing the marketing
team's case studies, with a required file on "Done"."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from access.models import Organization
from blueprints.models import Blueprint, Transition
from demo.seed_blueprints import seed_blueprints

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_published_case_study_blueprint():
    call_command("seed_demo", scale=0.1)
    org = Organization.objects.get(name="Zylker")
    bp = Blueprint.objects.get(org=org, name="Case study")
    assert bp.status == "published" and bp.field == "status" and bp.module.startswith("team-")
    assert Transition.objects.get(blueprint=bp, name="Done").during["attachment"] is True
    assert seed_blueprints(org) is None  # idempotent
