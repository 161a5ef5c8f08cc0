"""Dedupe at the door: a record entering a pool by hand (released, moved) is compared with the
records waiting in that pool by normalised phone, e-mail and company name; a duplicate is not
let in silently. The pool's setting "link" refuses the entry and names the record it duplicates
(claim that one instead); "off" lets it in. Merging into the existing record is not offered here.

Automatic entries (an owner deactivated, recycling) are not refused: the record is already the
organisation's, and a deactivation must not fail half-way."""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from .models import Pool, RecyclePolicy

COMPANY_SUFFIXES = re.compile(r"(有限责任公司|股份有限公司|有限公司|集团|公司|co\.?,?\s*ltd\.?|ltd\.?|inc\.?|llc|gmbh|corp\.?|"
                              r"limited|company)$")
# (field, how it is normalised) per module: what makes two records the same customer.
KEYS = {"leads": ("phone", "email", "company"), "accounts": ("phone", "name")}


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "")  # full-width letters and digits as plain ones


def phone_key(value: str) -> str:
    digits = re.sub(r"\D", "", _nfkc(value))
    if digits.startswith("0086"):
        digits = digits[2:]
    if digits.startswith("86") and len(digits) == 13:  # +86 138 0013 8000
        digits = digits[2:]
    return digits if len(digits) >= 6 else ""


def email_key(value: str) -> str:
    value = _nfkc(value).strip().lower()
    return value if "@" in value else ""


def company_key(value: str) -> str:
    value = re.sub(r"[\s()（）.,，·-]+", " ", _nfkc(value).strip().lower()).strip()
    previous = None
    while previous != value:
        previous, value = value, COMPANY_SUFFIXES.sub("", value).strip()
    return value.replace(" ", "")


def keys_of(module: str, record: Any) -> dict[str, str]:
    found = {}
    for field in KEYS.get(module, ()):
        raw = getattr(record, field, "") or ""
        key = phone_key(raw) if field == "phone" else email_key(raw) if field == "email" else company_key(raw)
        if key:
            found[field] = key
    return found


def mode(pool: Pool) -> str:
    policy = RecyclePolicy.objects.filter(pool=pool).only("dedupe").first()
    return policy.dedupe if policy else RecyclePolicy._meta.get_field("dedupe").default


def check_entry(schema: Any, rows: list[Any], pool: Pool) -> None:
    """Refuse (all or nothing) records that duplicate one waiting in the pool, or each other."""
    if mode(pool) != "link" or schema.key not in KEYS:
        return
    wanted = {row.pk: keys_of(schema.key, row) for row in rows}
    seen: dict[tuple[str, str], Any] = {}
    for row in rows:
        for field, key in wanted[row.pk].items():
            other = seen.setdefault((field, key), row)
            if other is not row:
                raise ValidationError(_("%(record)s duplicates %(other)s (same %(field)s): release one of them.")
                                      % {"record": row, "other": other, "field": schema.field(field).label})
    # Candidates by the raw columns' loose forms (a short list), compared by their normalised keys.
    loose = Q()
    for field, key in seen:
        loose |= Q(**{f"{field}__icontains": key[-8:] if field == "phone" else key[:40]})
    if not seen:
        return
    from .recycle import record_model

    candidates = (record_model(schema.key)._base_manager.filter(org_id=pool.org_id, pool_id=pool.pk,
                                                                owner__isnull=True, deleted_at__isnull=True)
                  .exclude(pk__in=[row.pk for row in rows]).filter(loose).order_by("pk")[:200])
    for other in candidates:
        for field, key in keys_of(schema.key, other).items():
            row = seen.get((field, key))
            if row is not None:
                raise ValidationError(_("%(record)s duplicates #%(id)d %(other)s waiting in the pool “%(pool)s” "
                                        "(same %(field)s): claim that one instead.")
                                      % {"record": row, "id": other.pk, "other": other, "pool": pool.name,
                                         "field": schema.field(field).label})
