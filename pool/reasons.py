"""Reasons the system gives for a pool move (recycling: "no follow-up for 30 days"), stored
language-neutral and shown in the reader's language.

A reason is stored as its code and parameters (`{"code": "recycle_no_follow_up", "days": 30}`)
on the history row (`PoolMove.coded_reason`) and the timeline entry (`changes["reason"]`), and
turned into a sentence only when shown (`reason_text`): a
Chinese reader of a move the nightly job made sees Chinese. A reason a person typed (releasing,
an assignment past the limits) is their own words and stays text. Rows written before reasons
had codes hold the English sentence; those sentences are recognised and translated too, and any
other text is shown as stored.
"""
from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _

TEXTS = {
    "recycle_no_follow_up": _("No follow-up for %(days)d days"),
    "recycle_no_deal": _("No deal within %(days)d days of the claim"),
    "recycle_not_won": _("Not won within %(days)d days of the claim"),
}
# The recycling rule that made a record due -> its reason's code.
RULE_CODES = {"n": "recycle_no_follow_up", "m": "recycle_no_deal", "w": "recycle_not_won"}
# The English sentences older rows hold, by code.
_STORED_ENGLISH = [
    (re.compile(r"No follow-up for (\d+) days"), "recycle_no_follow_up"),
    (re.compile(r"No deal within (\d+) days of the claim"), "recycle_no_deal"),
    (re.compile(r"Not won within (\d+) days of the claim"), "recycle_not_won"),
]


def coded(code: str, **params: Any) -> dict[str, Any]:
    """A reason as stored: its code and parameters (JSON)."""
    if code not in TEXTS:
        raise ValueError(f"unknown pool reason code {code!r}")
    return {"code": code, **params}


def is_coded(value: Any) -> bool:
    return isinstance(value, dict) and value.get("code") in TEXTS


def reason_text(value: Any) -> str:
    """The reason as a sentence in the active language: a coded reason rendered, an English
    sentence of an older row translated, any other text (a person's words) as it is."""
    if isinstance(value, dict):
        template = TEXTS.get(value.get("code"))
        if template is None:
            return str(value.get("code") or "")
        params = {k: v for k, v in value.items() if k != "code"}
        try:
            return str(template) % params
        except (KeyError, TypeError, ValueError):  # a parameter missing or of the wrong type
            return str(value.get("code"))
    if isinstance(value, str):
        for pattern, code in _STORED_ENGLISH:
            found = pattern.fullmatch(value.strip())
            if found:
                return str(TEXTS[code]) % {"days": int(found.group(1))}
        return value
    return "" if value is None else str(value)
