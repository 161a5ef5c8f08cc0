"""A spreadsheet cell turned into what the record actions accept: dates in the common formats
and Excel's serial numbers, numbers with thousands separators and currency signs, several
choices in one cell, users by e-mail or name, lookups by name or id. The actions' own cleaning
(the field-type registry) then checks each value as for a typed one, picklist labels in either
language included."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from django.core.exceptions import ValidationError
from django.db.models import F
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from access.models import Membership
from access.visibility import visible
from crm.fieldtypes import normalize_phone
from crm.modules import get_module

from .reading import CELL_LIMIT, display

EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug included)
DATE_RE = re.compile(r"^(\d{1,4})[-/.年](\d{1,2})[-/.月](\d{1,4})日?$")
NUMBER_NOISE = re.compile(r"[,\s\u00a0\u3000'$¥￥€£，]")
MULTI_SPLIT = re.compile(r"[;,、；，|]")


class CellError(ValidationError):
    pass


def check_cell(value: Any) -> None:
    """What no field accepts: a formula, a cell too long for a spreadsheet, a NUL character."""
    if not isinstance(value, str):
        return
    if value.startswith("="):
        raise CellError(_("holds a formula (%(formula)s): paste its value instead.") % {"formula": value[:40]})
    if len(value) > CELL_LIMIT:
        raise CellError(_("is %(length)d characters long; a cell can hold at most %(limit)d.")
                        % {"length": len(value), "limit": CELL_LIMIT})
    if "\x00" in value:
        raise CellError(_("holds a NUL character, which cannot be stored."))


def parse_date(value: Any, day_first: bool) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or (isinstance(value, str) and re.fullmatch(r"\d{5}(\.0+)?", value.strip())):
        serial = int(float(value))
        if 1 <= serial <= 2958465:
            return EXCEL_EPOCH + dt.timedelta(days=serial)
    text = str(value).strip().split(" ")[0].split("T")[0]
    match = DATE_RE.match(text)
    if match:
        a, b, c = (int(part) for part in match.groups())
        if len(match.group(1)) == 4:
            year, month, day = a, b, c
        elif len(match.group(3)) == 4:
            year, month, day = (c, b, a) if day_first else (c, a, b)
        else:
            year = month = day = 0
        try:
            return dt.date(year, month, day)
        except ValueError:
            pass
    raise CellError(_("“%(value)s” is not a date (write it as 2026-12-03, 03/12/2026 or 2026/12/3).")
                    % {"value": str(value)[:40]})


def parse_datetime(value: Any, day_first: bool) -> Any:
    if isinstance(value, dt.datetime):
        return value
    text = str(value).strip()
    parts = text.replace("T", " ").split(" ", 1)
    date = parse_date(parts[0], day_first)
    time = dt.time()
    if len(parts) > 1:
        try:
            time = dt.time.fromisoformat(parts[1].strip())
        except ValueError:
            raise CellError(_("“%(value)s” is not a date and time (write it as 2026-12-03 14:30).")
                            % {"value": text[:40]})
    return dt.datetime.combine(date, time)


def parse_number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if not value.is_integer() else int(value)
    text = NUMBER_NOISE.sub("", str(value))
    if text.startswith("(") and text.endswith(")"):  # accounting notation for a negative number
        text = "-" + text[1:-1]
    try:
        Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise CellError(_("“%(value)s” is not a number.") % {"value": str(value)[:40]})
    return text


class People:
    """The org's active members by e-mail, user name and full name (one query per import)."""

    def __init__(self, org: Any) -> None:
        self.by_key: dict[str, int | None] = {}
        members = Membership.objects.filter(org=org, is_active=True, user__is_active=True).select_related("user")
        self.users = {m.user_id: m.user for m in members}
        for user_id, user in self.users.items():
            first, last = user.first_name, user.last_name
            names = {user.email, user.username, f"{first} {last}".strip(), f"{last}{first}".strip()}
            for name in names:
                if name:
                    key = name.casefold()
                    # A name two people share names neither of them.
                    self.by_key[key] = None if key in self.by_key and self.by_key[key] != user_id else user_id
        self.ids = set(self.users)

    def user(self, user_id: int) -> Any:
        return self.users[user_id]

    def find(self, value: Any) -> int:
        text = display(value).strip()
        if text.isdigit() and int(text) in self.ids:
            return int(text)
        key = text.casefold()
        if key in self.by_key:
            found = self.by_key[key]
            if found is None:
                raise CellError(_("“%(value)s” names more than one user: use their e-mail.") % {"value": text[:60]})
            return found
        raise CellError(_("No active user “%(value)s” (use an e-mail or a full name).") % {"value": text[:60]})


class Lookups:
    """Records a lookup column names, by name or id, among those the importer may see: one
    query per lookup field for a batch of rows."""

    def __init__(self, actor: Any, org: Any) -> None:
        self.actor, self.org = actor, org
        self.found: dict[tuple[str, str], int | None] = {}

    def load(self, spec: Any, values: Iterable[Any]) -> None:
        target = get_module(spec.target, self.org)
        texts = {display(v).strip() for v in values if display(v).strip()}
        texts -= {text for (key, text) in self.found if key == spec.key}
        if not texts:
            return
        ids = {int(t) for t in texts if t.isdigit()}
        names = {t.casefold() for t in texts}
        rows = (visible(self.actor, target, "view", listing=False)
                .annotate(import_name=Lower(F(target.title_field)))
                .filter(import_name__in=[n.lower() for n in names]).values_list("pk", "import_name"))
        by_name: dict[str, int | None] = {}
        for pk, name in rows:
            by_name[name] = None if name in by_name else pk
        seen_ids = set(visible(self.actor, target, "view", listing=False).filter(pk__in=ids)
                       .values_list("pk", flat=True)) if ids else set()
        for text in texts:
            if text.isdigit() and int(text) in seen_ids:
                self.found[(spec.key, text)] = int(text)
            else:
                self.found[(spec.key, text)] = by_name.get(text.lower(), 0)

    def find(self, spec: Any, value: Any) -> int:
        text = display(value).strip()
        found = self.found.get((spec.key, text), 0)
        if found is None:
            raise CellError(_("More than one record is called “%(value)s”: use its id.") % {"value": text[:60]})
        if not found:
            raise CellError(_("No record “%(value)s” that you can see.") % {"value": text[:60]})
        return found


def convert(spec: Any, value: Any, *, day_first: bool, people: People, lookups: Lookups) -> Any:
    """The cell as input to the field's cleaning; raises CellError with the reason."""
    kind = spec.type
    if kind == "date":
        return parse_date(value, day_first)
    if kind == "datetime":
        return parse_datetime(value, day_first)
    if kind in ("integer", "decimal", "currency", "percent"):
        return parse_number(value)
    if kind == "multi_select":
        return [part.strip() for part in MULTI_SPLIT.split(display(value)) if part.strip()]
    if kind == "user":
        return people.find(value)
    if kind == "lookup":
        return lookups.find(spec, value)
    if kind == "boolean":
        return value if isinstance(value, bool) else display(value).strip().replace("✓", "yes").replace("√", "yes")
    if kind == "phone":
        return normalize_phone(display(value).strip())
    return display(value).strip()


def match_value(spec: Any, value: Any) -> str:
    """A value as duplicates are compared: case and spaces ignored, phones normalised."""
    text = display(value).strip()
    if spec.type == "phone":
        return normalize_phone(text).lower()
    return text.lower()
