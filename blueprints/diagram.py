"""The blueprint drawn as an SVG on the server (no front-end library, works offline): states in
layers by their distance from the start state (breadth-first), transitions as arrows labelled
with their names, common transitions (from every state) listed under the drawing, the record's
current state highlighted."""
from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 40, 90, 34, 16


def layers(states: list[str], start: str, transitions: Iterable[Any]) -> dict[str, int]:
    """Each state's layer: its breadth-first distance from the start over the transitions; states
    not reached come last."""
    edges: dict[str, list[str]] = {s: [] for s in states}
    for t in transitions:
        for source in (states if t.any_state else t.from_states or []):
            if source in edges and t.to_state in edges:
                edges[source].append(t.to_state)
    depth = {start: 0} if start in edges else {}
    queue = deque(depth)
    while queue:
        state = queue.popleft()
        for target in edges[state]:
            if target not in depth:
                depth[target] = depth[state] + 1
                queue.append(target)
    last = max(depth.values(), default=-1) + 1
    return {s: depth.get(s, last) for s in states}


def positions(states: list[str], start: str, transitions: list[Any]) -> dict[str, tuple[int, int]]:
    layer_of = layers(states, start, transitions)
    rows: dict[int, int] = {}
    placed = {}
    for state in states:  # in the field's order inside a layer
        layer = layer_of[state]
        row = rows.get(layer, 0)
        rows[layer] = row + 1
        placed[state] = (PAD + layer * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    return placed


def svg(choices: list[tuple[str, str]], start: str, transitions: list[Any], current: str = "",
        selected: int | None = None, link: Any = None) -> SafeString:
    """The drawing; `choices` are the state field's (value, label) in order; `selected` a transition
    pk drawn in bold (the editor's side form); `link(pk)` the URL an arrow opens, if any."""
    states = [value for value, _label in choices]
    labels = dict(choices)
    if not states:
        return mark_safe("")
    at = positions(states, start, transitions)
    width = max(x for x, _y in at.values()) + NODE_W + PAD
    height = max(y for _x, y in at.values()) + NODE_H + PAD
    parts: list[SafeString] = []
    common = [t for t in transitions if t.any_state and t.to_state in at]
    for index, t in enumerate(common):  # from every state: a line each under the drawing
        height += 22
        parts.append(format_html(
            '<g class="bp-common" data-transition="{}"><text x="{}" y="{}" font-size="12" fill="{}">{} {} → {}</text></g>',
            t.pk, PAD, height - 6, "#0d6efd" if t.pk == selected else "#6c757d",
            _("From every state:") if index == 0 else "", t.name, labels.get(t.to_state, t.to_state)))
    for t in transitions:
        if t.any_state:
            continue
        for source in t.from_states or []:
            if source in at and t.to_state in at:
                edge = _edge(at[source], at[t.to_state], t, bold=t.pk == selected)
                url = link(t.pk) if link else ""
                parts.append(format_html('<a href="{}">{}</a>', url, edge) if url else edge)
    for state in states:
        x, y = at[state]
        classes = "bp-state" + (" bp-current" if state == current else "") + (" bp-start" if state == start else "")
        fill, ink = ("#0d6efd", "#ffffff") if state == current else ("#f8f9fa", "#212529")
        parts.append(format_html(
            '<g class="{}" data-state="{}"><rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{}" stroke="{}" '
            'stroke-width="{}"/><text x="{}" y="{}" text-anchor="middle" dominant-baseline="middle" fill="{}" '
            'font-size="13">{}</text></g>',
            classes, state, x, y, NODE_W, NODE_H, fill, "#0d6efd" if state in (current, start) else "#adb5bd",
            2 if state == start else 1, x + NODE_W // 2, y + NODE_H // 2, ink, _short(labels.get(state, state))))
    marker = mark_safe('<defs><marker id="bp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                       'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6c757d"/>'
                       '</marker></defs>')
    return format_html('<svg xmlns="http://www.w3.org/2000/svg" class="bp-diagram" data-testid="blueprint-diagram" '
                       'viewBox="0 0 {} {}" width="{}" height="{}" role="img">{}{}</svg>',
                       width, height, width, height, marker, format_html_join("", "{}", ((p,) for p in parts)))


def _short(text: str, limit: int = 20) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _edge(a: tuple[int, int], b: tuple[int, int], transition: Any, *, bold: bool) -> SafeString:
    (ax, ay), (bx, by) = a, b
    forward = bx > ax
    x1, y1 = (ax + NODE_W, ay + NODE_H // 2) if forward else (ax, ay + NODE_H // 2)
    x2, y2 = (bx, by + NODE_H // 2) if forward else (bx + NODE_W, by + NODE_H // 2)
    if bx == ax:  # same layer: leave from the bottom, arrive at the top (or the reverse)
        x1, x2 = ax + NODE_W // 2 + 10, bx + NODE_W // 2 - 10
        y1, y2 = (ay + NODE_H, by) if by > ay else (ay, by + NODE_H)
    bend = 0 if forward else 40  # a way back curves below, so it does not hide the way forward
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2 + bend
    stroke = "#0d6efd" if bold else "#6c757d"
    return format_html(
        '<g class="bp-edge" data-transition="{}"><path d="M {} {} Q {} {} {} {}" fill="none" stroke="{}" '
        'stroke-width="{}" marker-end="url(#bp-arrow)"/><text x="{}" y="{}" text-anchor="middle" font-size="11" '
        'fill="{}">{}</text></g>', transition.pk, x1, y1, cx, cy, x2, y2, stroke, 2.5 if bold else 1.2,
        cx, cy - 4 + (bend // 2), stroke, _short(transition.name, 24))
