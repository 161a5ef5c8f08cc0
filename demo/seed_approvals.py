"""Demo approval process: a deal created or edited with a discount above 12% awaits the owner's
manager (in the role tree), then the managing director; while it waits only its close date may
change (administrators excepted). On approval the owner is notified."""
from __future__ import annotations

from typing import Any


def seed_approvals(org: Any, admin: Any) -> Any:
    from approvals.actions import do_save_approval_process

    return do_save_approval_process(
        org, "deals", name="Discount above 12%", trigger="create_or_edit",
        criteria={"all": [{"field": "discount", "op": "gt", "value": "12"}]},
        levels=[{"rule": "any", "approvers": {"manager": True}},
                {"rule": "any", "approvers": {"users": [admin.pk]}}],
        editable_fields=["close_date"],
        on_approve=[{"type": "notify", "owner": True, "message": "Discount approved for {{name}}"}],
        actor=admin)
