"""Reading numbers, ids and JSON from request data, bounded, in one place.

Every app may import this module (it imports no app), so `access` views use it as well as
`crm`, `teams` and `locking`. Two kinds of readers:

- `bounded_int` for display parameters (page, per_page): a bad or out-of-range value is
  clamped or falls back to the default, since a wrong page number hurts nobody;
- `parse_id` / `parse_ids` for ids that name something to act on: a value that is not a
  positive whole number within PostgreSQL's bigint raises `BadParameter`, which
  `config.middleware.InputGuardMiddleware` answers with a 400 naming the parameter.

`load_json` parses JSON typed by a person (criteria) with a size and depth limit.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from django.core.exceptions import BadRequest
from django.utils.translation import gettext as _

BIGINT_MAX = 2**63 - 1  # the largest id or offset PostgreSQL stores (bigint)
MAX_DIGITS = 18  # a digit string this long always fits in a bigint
MAX_PAGE = 1_000_000  # far past any list; keeps page * size a bigint offset
JSON_MAX_CHARS = 20_000
JSON_MAX_DEPTH = 16  # criteria: about seven nested all/any groups


class BadParameter(BadRequest):
    """A request parameter that cannot be used; answered with a 400 naming it."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


def _whole(value: Any) -> int | None:
    """The whole number a request value spells (" 12 ", "-3"), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or len(digits) > 40 or not digits.isascii() or not digits.isdigit():
        return None
    return int(text)


def bounded_int(value: Any, *, default: int, low: int, high: int) -> int:
    """A display number clamped to [low, high]; the default when it is not a whole number."""
    number = _whole(value)
    if number is None:
        return default
    return min(max(number, low), high)


def parse_id(value: Any, name: str) -> int:
    """A positive id within bigint, or BadParameter naming `name`."""
    number = _whole(value)
    if number is None or not 0 < number <= BIGINT_MAX:
        shown = str(value)[:40] if value not in (None, "") else _("nothing")
        raise BadParameter(name, _("“%(name)s” must be an id (a positive whole number), not “%(value)s”.")
                           % {"name": name, "value": shown})
    return number


def parse_ids(values: Iterable[Any], name: str) -> list[int]:
    """Every value an id (see `parse_id`), duplicates dropped, order kept."""
    return list(dict.fromkeys(parse_id(value, name) for value in values))


def optional_id(value: Any) -> int | None:
    """An id, or None for anything that is not one (for lookups where "none" means "not found")."""
    number = _whole(value)
    return number if number is not None and 0 < number <= BIGINT_MAX else None


def json_shape_problem(value: Any, *, max_depth: int = JSON_MAX_DEPTH, max_items: int = 2_000) -> str | None:
    """Why parsed JSON is too deep, too big or holds a NUL character, or None. Iterative, so a
    deep value cannot exhaust the stack while being checked."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > max_depth:
            return _("It is nested too deeply (at most %(depth)d levels).") % {"depth": max_depth}
        if seen > max_items:
            return _("It is too large (at most %(count)d values).") % {"count": max_items}
        if isinstance(node, str) and "\x00" in node:
            return _("It contains a NUL character.")
        if isinstance(node, dict):
            for key, item in node.items():
                if "\x00" in str(key):
                    return _("It contains a NUL character.")
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    return None


def load_json(text: str, *, max_chars: int = JSON_MAX_CHARS, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """JSON typed into a form, or ValueError with a message for the person who typed it."""
    if len(text) > max_chars:
        raise ValueError(_("It is too long (at most %(count)d characters).") % {"count": max_chars})
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(_("It is nested too deeply (at most %(depth)d levels).") % {"depth": max_depth})
    except ValueError as exc:
        raise ValueError(_("This is not valid JSON: %(error)s") % {"error": exc})
    problem = json_shape_problem(value, max_depth=max_depth)
    if problem:
        raise ValueError(problem)
    return value
