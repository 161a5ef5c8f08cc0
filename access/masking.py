"""Masked fields: values a user sees only partly (a phone as 138****1234, an e-mail as
z***@example.com) on some records, e.g. a customer pool's records until someone claims them.

Apps above `access` register maskers; `access.visible` hands its records out masked, so every
read through the one door (lists, boards, record pages, exports, search, type-ahead) shows the
same; searches leave masked fields out of matching (`unmasked_where`), so typing a hidden phone
number does not reveal the record. A masked record is marked (`MASKED_ATTR`) and never saved."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from django.db.models import Q
from django.db.models.query import ModelIterable


@dataclass(frozen=True)
class Mask:
    """Fields masked on the rows matching `where` (and, on a loaded record, `applies`)."""

    fields: dict[str, str]  # field key -> style: "phone", "email" or "text"
    where: Q
    columns: tuple[str, ...]  # the record attributes `applies` and `conceal` read
    applies: Callable[[Any], bool]
    conceal: Callable[[Any, str, str], None]  # (record, field key, style): replace the value in memory
    # Loads, once for a batch of records, what `applies` needs beyond their own columns (a
    # contact's account's pool); masks sharing one function share the load.
    prepare: Callable[[list[Any]], None] | None = None


# masker(user, module) -> the masks that hold for the user on the module (empty: none)
Masker = Callable[[Any, Any], list[Mask]]
_maskers: list[Masker] = []
MASKED_ATTR = "_masked_fields"
CHUNK = 500


def register_masker(masker: Masker) -> None:
    if masker not in _maskers:
        _maskers.append(masker)


def masks_for(user: Any, module: Any) -> list[Mask]:
    return [mask for masker in _maskers for mask in (masker(user, module) or [])]


def masked_text(style: str, value: Any) -> str:
    """The shown part of a value: 138****1234, z***@example.com, 北***."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    if style == "email" and "@" in text:
        name, _at, domain = text.partition("@")
        return f"{name[:1]}***@{domain}"
    if style == "phone":
        digits = [c for c in text if c.isdigit()]
        if len(digits) >= 7:
            return "".join(digits[:3]) + "****" + "".join(digits[-4:])
        return "****"
    return f"{text[:1]}***"


def unmasked_where(masks: Iterable[Mask], field_key: str) -> Q | None:
    """The rows on which `field_key` is not masked (None: no mask covers it)."""
    condition = None
    for mask in masks:
        if field_key in mask.fields:
            condition = ~mask.where if condition is None else condition & ~mask.where
    return condition


def conceal(records: list[Any], masks: list[Mask]) -> None:
    """Mask the values in memory (loading, in one query, the columns the tests need when a list
    read the records without them)."""
    if not records or not masks:
        return
    needed = {column for mask in masks for column in mask.columns}
    missing = [r for r in records if needed & r.get_deferred_fields()]
    if missing:
        model = type(missing[0])
        rows = {row[0]: row[1:] for row in model._base_manager.filter(pk__in=[r.pk for r in missing])
                .values_list("pk", *sorted(needed))}
        for record in missing:
            for column, value in zip(sorted(needed), rows.get(record.pk, ())):
                record.__dict__[column] = value
    for prepare in dict.fromkeys(mask.prepare for mask in masks if mask.prepare is not None):
        prepare(records)
    for record in records:
        hidden = getattr(record, MASKED_ATTR, None) or set()
        for mask in masks:
            if mask.applies(record):
                for key, style in mask.fields.items():
                    if key not in hidden:
                        mask.conceal(record, key, style)
                        hidden.add(key)
        if hidden:
            setattr(record, MASKED_ATTR, hidden)


class MaskingIterable(ModelIterable):
    masks: tuple[Mask, ...] = ()

    def __iter__(self):
        batch: list[Any] = []
        for record in super().__iter__():
            batch.append(record)
            if len(batch) >= CHUNK:
                conceal(batch, list(self.masks))
                yield from batch
                batch = []
        conceal(batch, list(self.masks))
        yield from batch


def masked_queryset(queryset: Any, masks: list[Mask]) -> Any:
    """The queryset, handing out its records masked (values() and values_list() stay raw)."""
    if not masks:
        return queryset
    queryset = queryset.all()
    queryset._iterable_class = type("MaskedIterable", (MaskingIterable,), {"masks": tuple(masks)})
    return queryset


def is_masked(record: Any) -> bool:
    return bool(getattr(record, MASKED_ATTR, None))
