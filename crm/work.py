"""My Work, the home page: each app that gives a user something to do registers a section here
(crm its tasks, teams the records assigned to the user and their open requests, the processes
what awaits the user's approval, review or transition). The page (app `work`) lists them in
`order`; the navigation bar shows the sum of their counts.

provider(user) -> a WorkSection, or None when the section has nothing to say to this user. A
provider costs a fixed number of queries however many items it finds, and shows at most
`limit` items with a link to the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class WorkSection:
    key: str  # stable, used in the page's anchors and tests
    title: str  # in the reader's language
    items: list[Any]  # what the template renders
    count: int  # how many in all (bounded: exact up to the cap, then "cap+")
    template: str  # renders `section` (this object) inside the My Work page
    more_url: str = ""  # the full list, when there are more than shown
    capped: bool = False  # the count stopped at the cap
    extra: dict[str, Any] = field(default_factory=dict)


WorkProvider = Callable[[Any], "WorkSection | None"]
# counter(user) -> how many things in the section await the user (for the navigation bar)
WorkCounter = Callable[[Any], int]
_sections: list[tuple[int, WorkProvider, "WorkCounter | None"]] = []


def register_work_section(provider: WorkProvider, *, order: int, counter: WorkCounter | None = None) -> None:
    if all(existing is not provider for _, existing, _ in _sections):
        _sections.append((order, provider, counter))
        _sections.sort(key=lambda entry: entry[0])


def unregister_work_section(provider: WorkProvider) -> None:
    _sections[:] = [entry for entry in _sections if entry[1] is not provider]


def work_sections(user: Any) -> list[WorkSection]:
    found = []
    for _, provider, _counter in _sections:
        section = provider(user)
        if section is not None:
            found.append(section)
    return found


def work_count(user: Any) -> int:
    """What awaits the user across the sections that count (approvals, reviews, overdue tasks...)."""
    return sum(counter(user) for _, _, counter in _sections if counter is not None)
