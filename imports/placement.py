"""Where an import's new records go besides their owner: other apps offer places here (the
customer pool: "into the pool “China East”"), so the import needs to know nothing of them.

A place is offered per module and person (`choices`), checks the new rows before they are
written (`check`: per row None, a reason it is refused — e.g. a duplicate of a record already
waiting there —, or a stored record the row is to fill instead: its empty fields take the row's
values, as an update) and takes the new records once written, in the batch's transaction
(`place`). Updated records stay where they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Place:
    key: str  # the prefix of the stored choice: "pool" for "pool:12"
    # (schema, actor) -> [(value, label)], the values without the prefix; only what the actor may use
    choices: Callable[[Any, Any], list[tuple[str, str]]]
    # (schema, rows as {field key: value, "_row": the file's row number}, value, actor)
    #   -> per row: None, a refusal, or a record to fill
    check: Callable[[Any, list[dict[str, Any]], str, Any], list[Any]]
    # (schema, records, value, actor, path): move the new records there
    place: Callable[[Any, list[Any], str, Any, str], None]


_places: dict[str, Place] = {}


def register_place(place: Place) -> None:
    _places[place.key] = place


def choices(schema: Any, actor: Any) -> list[tuple[str, str]]:
    """Every place the actor may send this module's new records, as ("pool:12", label)."""
    return [(f"{place.key}:{value}", label) for place in _places.values() for value, label in place.choices(schema, actor)]


def resolve(choice: str) -> tuple[Place, str] | None:
    key, _sep, value = (choice or "").partition(":")
    place = _places.get(key)
    return (place, value) if place is not None and value else None
