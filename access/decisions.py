"""THE decision point: may this user do this to this record, and if not, why.

`decide(user, record, action, changes)` answers for one record, `decide_many` for a page of
records at a fixed number of queries, `decide_module` for a module's pages (list, kanban, new,
export ...). A decision carries the reason in the user's language and the fields that are hidden
or read-only for the user on that record.

It runs the visibility predicate for the record and the registered guards in a dry mode. The
guards are the ones every action runs for real (`run_guards`), so what a page offers and what an
action allows cannot drift apart. Apps above `access` register their rules here at start-up
(guards, field rules, explanations of refusals, module rules); this module names none of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from .visibility import can_each, current_membership, visible

# --- guards: checks every record write passes (run for real by actions, dry by `decide`) ----------


class GuardRefusal(PermissionDenied):
    """A guard's "no", with a clear, translatable reason."""

    def __init__(self, reason: str, *, guard: str = "", log: bool = True, quiet: bool = False,
                 field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.guard = guard
        self.field = field  # the field key the reason is about: a form shows it under that field
        self.log = log  # written to the record's timeline as a refused attempt
        self.quiet = quiet  # pages do not offer the control at all (e.g. someone else's note)
        self.context: "WriteContext | None" = None

    def __str__(self) -> str:
        return str(self.reason)


@dataclass
class WriteContext:
    action: str  # create, update, delete, restore, change_owner, add_note, update_note, delete_note, ...
    module: Any  # the bound module schema
    record: Any  # the record as stored (for create: the unsaved new record)
    actor: Any
    path: str
    changes: dict[str, Any] = field(default_factory=dict)  # field key -> new Python value
    dry: bool = False  # asked by `decide`: judge only, load what is needed, write nothing


Guard = Callable[[WriteContext], None]
_guards: list[Guard] = []


def register_guard(guard: Guard) -> None:
    if guard not in _guards:
        _guards.append(guard)


def unregister_guard(guard: Guard) -> None:
    if guard in _guards:
        _guards.remove(guard)


# Guard actions that write nothing on the record (see RECORD_ACTIONS: deciding an approval step,
# recalling it): only the guards registered for them judge them, since the write guards (locks,
# freezes, team rules, reviews) would take them for edits; with none registered the answer is no.
DECISION_ONLY = frozenset({"approve", "recall", "claim", "release", "assign", "protect"})
_decision_guards: dict[str, list[Guard]] = {}


def register_decision_guard(action: str, guard: Guard) -> None:
    if action not in DECISION_ONLY:
        raise ValueError(f"not a decision-only action: {action!r}")
    guards = _decision_guards.setdefault(action, [])
    if guard not in guards:
        guards.append(guard)


def _nobody_decides(context: WriteContext) -> None:
    raise GuardRefusal(_("Nobody may do this here."), quiet=True, log=False)


def run_guards(context: WriteContext) -> None:
    if context.action in DECISION_ONLY:
        guards = _decision_guards.get(context.action) or [_nobody_decides]
    else:
        guards = _guards
    for guard in list(guards):
        try:
            guard(context)
        except GuardRefusal as refusal:
            refusal.context = context
            raise


# --- what other apps tell the decision point -----------------------------------------------------

# provider(user, schema, record) -> {"hidden": set of field keys, "read_only": {field key: reason}}
FieldRules = Callable[[Any, Any, Any], dict]
_field_rules: list[FieldRules] = []

# explainer(user, schema, record, action) -> why the access rules refuse `action`, or None
Explainer = Callable[[Any, Any, Any, str], "str | None"]
_explainers: list[Explainer] = []

# rule(user, schema, action) -> a refusing Decision, or None (no objection)
ModuleRule = Callable[[Any, Any, str], "Decision | None"]
_module_rules: list[ModuleRule] = []

# preloader(user, schema, records): fetch at once what the guards would read per record
Preloader = Callable[[Any, Any, list], None]
_preloaders: list[Preloader] = []

# resolver(record, org) -> the record's bound module schema
_schema_resolver: list[Callable[[Any, Any], Any]] = []


def _add(registry: list, item: Any) -> None:
    if item not in registry:
        registry.append(item)


def register_field_rules(provider: FieldRules) -> None:
    _add(_field_rules, provider)


def register_explainer(explainer: Explainer) -> None:
    _add(_explainers, explainer)


def register_module_rule(rule: ModuleRule) -> None:
    _add(_module_rules, rule)


def register_preloader(preloader: Preloader) -> None:
    _add(_preloaders, preloader)


def register_schema_resolver(resolver: Callable[[Any, Any], Any]) -> None:
    _schema_resolver[:] = [resolver]


# --- decisions ---------------------------------------------------------------------------------


@dataclass
class Decision:
    """The answer. `found` False: the record is not there for this user (show a 404). `quiet`: the
    base access rules refuse (no permission at all): the control is simply not offered; any other
    refusal is shown as a disabled control with its reason."""

    allowed: bool
    reason: str = ""
    hidden: frozenset[str] = frozenset()
    read_only: dict[str, str] = field(default_factory=dict)
    found: bool = True
    quiet: bool = False
    guard: str = ""  # the guard that refused ("" when the access rules refuse)
    field: str = ""  # the field key the refusal is about, when a guard names one

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def offered(self) -> bool:
        """Whether a page shows the control at all (enabled, or disabled with the reason)."""
        return self.allowed or not self.quiet

    def editable(self, field_key: str) -> bool:
        return self.allowed and field_key not in self.hidden and field_key not in self.read_only


# The decision actions: the access action the record must be visible for, and the guard action
# the write runs as (None: nothing is written).
RECORD_ACTIONS: dict[str, tuple[str, str | None]] = {
    "view": ("view", None),
    "export": ("export", None),
    "edit": ("edit", "update"),
    "delete": ("delete", "delete"),
    "change_owner": ("edit", "change_owner"),
    "add_note": ("view", "add_note"),
    "edit_note": ("view", "update_note"),
    "delete_note": ("view", "delete_note"),
    "add_attachment": ("edit", "add_attachment"),
    "delete_attachment": ("edit", "delete_attachment"),
    # A blueprint transition: changes {"transition": the transition}; the guards say who may.
    "transition": ("edit", "transition"),
    # Deciding the step a record's approval awaits (approve, reject; changes {"delegate": True}
    # to hand it on) and recalling the request: nothing is written on the record, and only the
    # guard the approvals app registers answers (DECISION_ONLY).
    "approve": ("view", "approve"),
    "recall": ("view", "recall"),
    # A customer pool's moves: claiming a record nobody owns, releasing one into a pool (its
    # owner, or an administrator moving it), assigning one from the pool to a rep (changes
    # {"user": the rep}). Only the guards registered for them answer (DECISION_ONLY).
    "claim": ("view", "claim"),
    "release": ("edit", "release"),
    "assign": ("view", "assign"),
    # Protecting a claimed record from the pool's recycling (its owner, within a quota).
    "protect": ("edit", "protect"),
}
# The controls of a record's page, in the order pages list them.
PAGE_ACTIONS = ("edit", "delete", "change_owner", "add_note", "add_attachment", "delete_attachment")


def refuse(reason: str, **kwargs: Any) -> Decision:
    return Decision(False, reason, **kwargs)


def _schema_of(record: Any, user: Any) -> Any:
    return _schema_resolver[0](record, user.org)


def field_rules(user: Any, schema: Any, record: Any) -> tuple[frozenset[str], dict[str, str]]:
    """The fields hidden from the user on this record, and those read-only with the reason."""
    hidden: set[str] = set()
    read_only: dict[str, str] = {}
    for provider in _field_rules:
        found = provider(user, schema, record) or {}
        hidden |= set(found.get("hidden", ()))
        for key, reason in found.get("read_only", {}).items():
            read_only.setdefault(key, reason)  # the first provider's reason is shown
    return frozenset(hidden), {k: v for k, v in read_only.items() if k not in hidden}


def module_field_rules(user: Any, schema: Any) -> tuple[frozenset[str], dict[str, str]]:
    """The field rules that hold before there is a record (a new record's form, bulk edit):
    providers are asked with no record."""
    return field_rules(user, schema, None)


def explain(user: Any, schema: Any, record: Any, action: str) -> str | None:
    for explainer in _explainers:
        reason = explainer(user, schema, record, action)
        if reason:
            return reason
    return None


def decide_many(user: Any, records: Iterable[Any], action: str, changes: dict[str, Any] | None = None, *,
                schema: Any = None, path: str = "page", fields: bool = True) -> dict[Any, Decision]:
    """Decisions for many records of one module, by record pk: two visibility queries, one per
    preloader, and the guards in memory, however many records."""
    if action not in RECORD_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    records = list(records)
    if not records:
        return {}
    if not _acting(user):
        return {r.pk: _not_member() for r in records}
    schema = schema or _schema_of(records[0], user)
    access_action, guard_action = RECORD_ACTIONS[action]
    ids = [r.pk for r in records]
    seen = set(visible(user, schema, "view", listing=False).filter(pk__in=ids).values_list("pk", flat=True))
    permitted = seen if access_action == "view" else set(
        visible(user, schema, access_action, listing=False).filter(pk__in=ids).values_list("pk", flat=True))
    if guard_action:
        for preloader in _preloaders:
            preloader(user, schema, [r for r in records if r.pk in permitted])
    return {record.pk: _decide_one(user, schema, record, action, guard_action, changes, path,
                                   record.pk in seen, record.pk in permitted, fields)
            for record in records}


def _decide_one(user: Any, schema: Any, record: Any, action: str, guard_action: str | None,
                changes: dict[str, Any] | None, path: str, seen: bool, permitted: bool, fields: bool) -> Decision:
    if not seen:
        return refuse(_("Record not found."), found=False, quiet=True)
    hidden, read_only = field_rules(user, schema, record) if fields else (frozenset(), {})
    if not permitted:
        reason = explain(user, schema, record, action)
        return refuse(reason or _("You do not have permission to do this on this record."),
                      hidden=hidden, read_only=read_only, quiet=reason is None)
    if guard_action:
        context = WriteContext(guard_action, schema, record, user, path, dict(changes or {}), dry=True)
        try:
            run_guards(context)
        except GuardRefusal as refusal:
            return refuse(str(refusal.reason), hidden=hidden, read_only=read_only, quiet=refusal.quiet,
                          guard=refusal.guard or "guard", field=refusal.field)
        if guard_action == "update" and changes:
            bad = sorted(set(changes) & (set(hidden) | set(read_only)))
            if bad:
                return refuse(read_only.get(bad[0]) or _("You may not change this field."),
                              hidden=hidden, read_only=read_only)
        elif guard_action == "update" and fields:
            return _nothing_editable(schema, hidden, read_only) or Decision(True, hidden=hidden, read_only=read_only)
    return Decision(True, hidden=hidden, read_only=read_only)


def _nothing_editable(schema: Any, hidden: frozenset[str], read_only: dict[str, str]) -> Decision | None:
    """An edit is refused when every editable field is hidden or read-only for the user."""
    keys = {spec.key for spec in schema.editable_fields}
    if keys and keys <= set(hidden) | set(read_only):
        return refuse(next(iter(read_only.values()), _("You may not change any field of this record.")),
                      hidden=hidden, read_only=read_only)
    return None


def decide(user: Any, record: Any, action: str, changes: dict[str, Any] | None = None, *,
           schema: Any = None, path: str = "page") -> Decision:
    """Whether `user` may do `action` on `record` (with `changes`, for an edit), why not, and
    which fields are hidden or read-only for them there."""
    return decide_many(user, [record], action, changes, schema=schema, path=path)[record.pk]


def _acting(user: Any) -> bool:
    return current_membership(user) is not None and getattr(user, "org", None) is not None


def _not_member(**kwargs: Any) -> Decision:
    return refuse(_("You are not an active member of this organisation."), quiet=True, **kwargs)


def _reach(user: Any, schema: Any, record: Any, actions: Iterable[str]) -> Callable[[str], bool]:
    """Whether the record is visible to the user for the access actions the decision actions
    need: asked all at once, in one query."""
    known = can_each(user, schema, record, {"view", *(RECORD_ACTIONS[action][0] for action in actions)})
    return known.__getitem__


def decide_page(user: Any, record: Any, actions: Iterable[str] = PAGE_ACTIONS, *,
                schema: Any = None) -> dict[str, Decision]:
    """The decisions for a record page's controls, sharing the visibility queries and field rules."""
    if not _acting(user):
        return {action: _not_member() for action in actions}
    actions = tuple(actions)
    schema = schema or _schema_of(record, user)
    reaches = _reach(user, schema, record, actions)
    hidden, read_only = field_rules(user, schema, record)
    for preloader in _preloaders:
        preloader(user, schema, [record])
    result = {}
    for action in actions:
        access_action, guard_action = RECORD_ACTIONS[action]
        seen = reaches("view")
        decision = _decide_one(user, schema, record, action, guard_action, None, "page", seen,
                               seen and reaches(access_action), fields=False)
        decision.hidden, decision.read_only = hidden, read_only
        if action == "edit" and decision.allowed:
            decision = _nothing_editable(schema, hidden, read_only) or decision
        result[action] = decision
    return result


def decide_each(user: Any, record: Any, writes: dict[str, list[dict[str, Any]]], *,
                schema: Any = None) -> dict[str, list[Decision]]:
    """Decisions for several writes on one record the user sees, by action (e.g. editing and
    deleting each of its notes), one visibility query per access action."""
    if not _acting(user):
        return {action: [_not_member() for _change in changes] for action, changes in writes.items()}
    schema = schema or _schema_of(record, user)
    reaches = _reach(user, schema, record, writes)
    result = {}
    for action, changes in writes.items():
        access_action, guard_action = RECORD_ACTIONS[action]
        result[action] = [_decide_one(user, schema, record, action, guard_action, change, "page", True,
                                      reaches(access_action), fields=False) for change in changes] if changes else []
    return result


def require(decision: Decision) -> Decision:
    """Raise what a view should answer for a refusal: 404 when not found, else 403 with the reason."""
    from django.http import Http404

    if not decision.found:
        raise Http404
    if not decision.allowed:
        raise PermissionDenied(decision.reason)
    return decision


# --- module-level decisions ------------------------------------------------------------------

MODULE_ACTIONS = ("open", "create", "import", "export", "bulk_edit", "change_owner", "configure")


def decide_module(user: Any, schema: Any, action: str) -> Decision:
    """Whether the user may use a module's page for `action`: open its list, kanban and chart,
    create, import from a file, export, bulk edit, change owners in bulk, configure. `found`
    False: the module does not exist for this user (404)."""
    if action not in MODULE_ACTIONS:
        raise ValueError(f"unknown module action {action!r}")
    if not _acting(user):
        return _not_member(found=False)
    for rule in _module_rules:
        refusal = rule(user, schema, action)
        if refusal is not None:
            return refusal
    return Decision(True)
