"""Blueprints built through the actions, as an administrator would in the editor."""
from __future__ import annotations

from typing import Any

from blueprints import actions
from blueprints.models import Transition


def deal_pipeline(org: Any, admin: Any, *, publish: bool = True, criteria: dict | None = None,
                  **owners: Any) -> tuple[Any, dict[str, Transition]]:
    """Deals: qualification -> proposal (the deal's owner) -> negotiation (asks for the amount and a
    note) -> won; "Lose" from every state. `owners` override a transition's owners by name."""
    bp = actions.do_create_blueprint(org, "deals", name="Deal pipeline", field="stage", criteria=criteria,
                                     actor=admin)
    specs = {
        "Send proposal": dict(from_states=["qualification"], to_state="proposal", owners={"owner": True}),
        "Negotiate": dict(from_states=["proposal"], to_state="negotiation", owners={"owner": True},
                          during={"fields": [{"key": "amount", "required": True}], "note": True}),
        "Win": dict(from_states=["negotiation"], to_state="won", owners={"owner": True}),
        "Lose": dict(any_state=True, to_state="lost", owners={"owner": True}),
    }
    made = {}
    for name, values in specs.items():
        if name in owners:
            values["owners"] = owners[name]
        made[name] = actions.do_save_transition(bp, actor=admin, name=name, **values)
    if publish:
        bp = actions.do_publish_blueprint(bp, actor=admin)
    return bp, made
