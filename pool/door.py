"""Dedupe at the door: records entering a pool are compared with the records waiting in it, and
with each other, by normalised phone, e-mail and company name (leads: phone, e-mail, company;
accounts: phone, name). The normalisation is the duplicate finder's (`dedupe.selectors`: NFKC,
case, spaces; phones to one form; company names without their legal form), run in PostgreSQL, so
"Find duplicates" and the door agree on what a duplicate is.

What happens to a duplicate is the pool's setting (`Pool.dedupe`):
- "refuse" (the default): the entry is refused, all or nothing, naming the existing record;
- "merge": the entering record is merged into the waiting one (`dedupe.actions.do_merge_records`:
  the existing record keeps its values and takes the entering one's where it has none; the
  entering record goes to the recycle bin), when the actor may merge them; else refused with why;
- "link": it enters, and both records are marked as possible duplicates of each other
  (`PossibleDuplicate`, a timeline entry on each, a mark on the pool list and the record page);
- "off": it enters, unchecked.
Automatic entries (an owner deactivated, recycling) are never refused nor merged: they are linked
(unless the pool says "off"), because nobody is there to decide and a deactivation must not fail
half-way.

The waiting records are found through partial expression indexes on the normalised values of
pooled rows (`door_indexes`: `(org_id, pool_id, <normalised value>) WHERE owner_id IS NULL AND
pool_id IS NOT NULL AND deleted_at IS NULL`), so the cost of a check does not grow with the pool.
This module only reads; `pool.door_actions` applies the verdicts (merges, links)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from django.db.models import CharField, F, Index, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from dedupe.selectors import normalise, normalise_values

from .models import Dedupe, Pool

# What makes two records the same customer, per pool module: field -> how it is normalised (the
# duplicate finder's kind for that field: `dedupe.selectors.match_kind`; a test keeps them equal).
MATCH_FIELDS: dict[str, dict[str, str]] = {
    "leads": {"phone": "phone", "email": "text", "company": "company"},
    "accounts": {"phone": "phone", "name": "company"},
}
INDEX_PREFIX = {"leads": "lead", "accounts": "account"}
MAX_CANDIDATES = 2000  # waiting records compared with one batch at most (an index range each)
MAX_LINKS = 5  # a record is linked to at most this many look-alikes

ENTER, REFUSE, MERGE, LINK = "enter", "refuse", "merge", "link"


def stored_key(field_key: str, kind: str) -> Any:
    """A stored field's normalised value: the expression the door's indexes are built on and its
    queries filter by (the two must be the same for PostgreSQL to use the index)."""
    return normalise(Coalesce(F(field_key), Value(""), output_field=CharField()), kind)


def door_indexes() -> list[tuple[str, str, str, Index]]:
    """(module, field, kind, index) for every matched field: its normalised value among the
    pooled rows."""
    pooled = Q(owner__isnull=True, pool_id__isnull=False, deleted_at__isnull=True)
    return [(module, key, kind, Index(F("org_id"), F("pool_id"), stored_key(key, kind), condition=pooled,
                                      name=f"{INDEX_PREFIX[module]}_door_{key}"))
            for module, fields in MATCH_FIELDS.items() for key, kind in fields.items()]


def door_statistics(model: Any, key: str, kind: str, schema_editor: Any) -> tuple[str, str]:
    """(name, CREATE STATISTICS statement) for a matched field's normalised value. PostgreSQL
    keeps no statistics on the expressions of a partial index: without these it guesses that each
    value matches 0.5% of the table, and for a batch of values it would read the whole table."""
    from django.db.models.sql import Query

    query = Query(model, alias_cols=False)
    compiler = query.get_compiler(connection=schema_editor.connection)
    sql, params = compiler.compile(stored_key(key, kind).resolve_expression(query, allow_joins=False))
    if params:
        sql = sql % tuple(schema_editor.quote_value(param) for param in params)
    name = f"{model._meta.db_table}_door_{key}"
    return name, f"CREATE STATISTICS IF NOT EXISTS {schema_editor.quote_name(name)} ON ({sql}) " \
                 f"FROM {schema_editor.quote_name(model._meta.db_table)}"


def usable(kind: str, key: str) -> bool:
    """Whether a normalised value identifies a customer: a placeholder ("-", "无", "n/a") does not."""
    if kind == "phone":
        return sum(ch.isdigit() for ch in key) >= 6
    if "@" in key or kind == "company":
        return len(key) >= 2
    return False  # an e-mail field's value without "@"


@dataclass
class Match:
    """A record the entering row looks like: waiting in the pool (`record`), or entering with it
    (`index`, the earlier row's place in the batch; `record` is that row when it is saved)."""

    fields: list[str]
    record: Any = None
    index: int | None = None

    @property
    def waiting(self) -> bool:
        return self.index is None


@dataclass
class Verdict:
    """The door's answer for one entering row.

    outcome: "enter" (no duplicate, or the pool does not check), "refuse" (`reason` says why, in
    the user's language), "merge" (into `into`: the waiting record, or the earlier row of the batch
    at `into_index` when that row enters; `decision` is the actor's edit decision on the survivor:
    fields hidden or read-only there are not filled), or "link" (it enters, marked as a possible
    duplicate of each of `matches`)."""

    index: int
    row: Any
    outcome: str = ENTER
    matches: list[Match] = field(default_factory=list)
    reason: str = ""
    into: Any = None
    into_index: int | None = None
    decision: Any = None


def _value(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def _label(row: Any, index: int) -> str:
    """How a refusal names a row: a saved record by its name, a row of a file by its number (a
    mapping's "_row", else its place in the batch)."""
    if isinstance(row, Mapping) or getattr(row, "pk", None) is None:
        number = row.get("_row") if isinstance(row, Mapping) else None
        return _("Row %(number)d") % {"number": number or index + 1}
    return str(row)


def effective_mode(pool: Pool, *, automatic: bool) -> str:
    mode = pool.dedupe or Dedupe.REFUSE
    if automatic and mode != Dedupe.OFF:
        return Dedupe.LINK
    return mode


def _keys(schema: Any, rows: Sequence[Any]) -> list[dict[tuple[str, str], str]]:
    """Per row: {(field, normalised value): field} of its usable values (one query for the batch)."""
    fields = MATCH_FIELDS[schema.key]
    kinds = list(fields.values())
    normalised = normalise_values(kinds, [[_value(row, key) for row in rows] for key in fields])
    return [{(key, value): key for key, kind, value in zip(fields, kinds, found) if value and usable(kind, value)}
            for found in normalised]


def waiting_query(schema: Any, pool: Pool, keys: list[dict], exclude: list[int]) -> Any:
    """The pool's waiting records with any of the keys (None when there is no key): one query,
    an index range per value (`door_indexes`)."""
    wanted: dict[str, set[str]] = {}
    for row_keys in keys:
        for key, value in row_keys:
            wanted.setdefault(key, set()).add(value)
    if not wanted:
        return None
    fields = MATCH_FIELDS[schema.key]
    found = Q()
    for key, values in wanted.items():
        found |= Q(**{f"door_{key}__in": sorted(values)})
    from .recycle import record_model

    # Every waiting record counts, whoever enters: the door compares within the pool, not within
    # what the actor may see (a refusal names the record to claim instead).
    model = record_model(schema.key)
    return (model._base_manager.filter(org_id=pool.org_id, pool_id=pool.pk, owner__isnull=True, deleted_at__isnull=True)
            .annotate(**{f"door_{key}": stored_key(key, kind) for key, kind in fields.items() if key in wanted})
            .filter(found).exclude(pk__in=exclude).order_by())


def _waiting(schema: Any, pool: Pool, keys: list[dict], exclude: list[int]) -> list[Any]:
    query = waiting_query(schema, pool, keys, exclude)
    return [] if query is None else sorted(query[:MAX_CANDIDATES], key=lambda record: record.pk)


def check_entry(schema: Any, rows: Sequence[Any], pool: Pool, actor: Any, *, automatic: bool = False) -> list[Verdict]:
    """What the door says for a batch of rows entering `pool` (reads only; writes nothing).

    `schema`: the pool module's bound schema (leads or accounts, of the pool's organisation).
    `rows`: records (saved: released or moved; their own pks are not compared with themselves) or
    rows not saved yet (an import: model instances without a pk, or mappings of field key to raw
    value, such as {"phone": "+86 138 0013 8000", "email": ..., "company": ...}); the fields read
    are `MATCH_FIELDS[schema.key]`.
    `actor`: who enters them (merges are checked against their rights); None for the system.
    `automatic`: an entry nobody chose (deactivation, recycling): never refused nor merged, linked.

    Returns one `Verdict` per row, in order. Rows are compared with the records waiting in the
    pool and with the rows before them in the batch. A caller refuses the batch when any verdict
    is "refuse" (all or nothing), merges the "merge" ones and records the "link" ones
    (`pool.door_actions.admit` does all three for saved records). Two queries for the batch when
    the pool checks (the normalised values, then the waiting look-alikes through the indexes),
    plus the actor's decisions on records to merge."""
    verdicts = [Verdict(index=i, row=row) for i, row in enumerate(rows)]
    mode = effective_mode(pool, automatic=automatic)
    if mode == Dedupe.OFF or not rows or schema.key not in MATCH_FIELDS:
        return verdicts
    if schema.org.pk != pool.org_id or schema.key != pool.module:
        raise ValueError("the rows' module is not the pool's")
    keys = _keys(schema, rows)
    own = [pk for pk in (getattr(row, "pk", None) for row in rows if not isinstance(row, Mapping)) if pk]
    by_key: dict[tuple[str, str], list[Any]] = {}
    for record in _waiting(schema, pool, keys, own):
        fields = MATCH_FIELDS[schema.key]
        for key in fields:
            value = getattr(record, f"door_{key}", None)
            if value is not None:
                by_key.setdefault((key, value), []).append(record)
    first_row: dict[tuple[str, str], int] = {}
    for verdict, row_keys in zip(verdicts, keys):
        waiting: dict[int, Match] = {}
        for key_value, key in row_keys.items():
            for record in by_key.get(key_value, ()):
                waiting.setdefault(record.pk, Match(fields=[], record=record)).fields.append(key)
        earlier: dict[int, Match] = {}
        for key_value, key in row_keys.items():
            j = first_row.setdefault(key_value, verdict.index)
            if j != verdict.index:
                row = rows[j]
                saved = not isinstance(row, Mapping) and getattr(row, "pk", None) is not None
                earlier.setdefault(j, Match(fields=[], index=j, record=row if saved else None)).fields.append(key)
        # The closest look-alikes first: more fields alike, then the oldest record.
        verdict.matches = (sorted(waiting.values(), key=lambda m: (-len(m.fields), m.record.pk))
                           + sorted(earlier.values(), key=lambda m: (-len(m.fields), m.index)))
        if verdict.matches:
            _judge(schema, pool, verdicts, verdict, mode, actor)
    return verdicts


def _field_labels(schema: Any, keys: list[str]) -> str:
    return ", ".join(str(schema.field(key).label) for key in keys)


def _judge(schema: Any, pool: Pool, verdicts: list[Verdict], verdict: Verdict, mode: str, actor: Any) -> None:
    best = verdict.matches[0]
    record = _label(verdict.row, verdict.index)
    same = _field_labels(schema, best.fields)
    if mode == Dedupe.LINK:
        verdict.outcome = LINK
        verdict.matches = verdict.matches[:MAX_LINKS]
        return
    if best.waiting:
        named = {"record": record, "id": best.record.pk, "other": best.record, "pool": pool.name, "field": same}
    else:
        named = {"record": record, "other": _label(verdicts[best.index].row, best.index), "field": same}
    if mode == Dedupe.REFUSE:
        verdict.outcome = REFUSE
        if best.waiting:
            verdict.reason = (_("%(record)s duplicates #%(id)d %(other)s waiting in the pool “%(pool)s” "
                                "(same %(field)s): claim that one instead.") % named)
        else:
            verdict.reason = _("%(record)s duplicates %(other)s (same %(field)s): release one of them.") % named
        return
    # Merge: into the waiting record, or into the earlier row of the batch (or where that one goes).
    into, into_index = (best.record, None) if best.waiting else (None, best.index)
    if into_index is not None:
        earlier = verdicts[into_index]
        if earlier.outcome == MERGE:
            into, into_index = earlier.into, earlier.into_index
        elif earlier.outcome == REFUSE:
            verdict.outcome, verdict.reason = REFUSE, earlier.reason
            return
        else:
            into = best.record  # the earlier row enters; it is the survivor (None when not saved yet)
    verdict.outcome, verdict.into, verdict.into_index = MERGE, into, into_index
    refusal, verdict.decision = _may_merge(schema, actor, into, verdict.row)
    if refusal is not None:
        verdict.outcome, verdict.into, verdict.into_index = REFUSE, None, None
        if best.waiting:
            verdict.reason = (_("%(record)s duplicates #%(id)d %(other)s waiting in the pool “%(pool)s” "
                                "(same %(field)s); the pool merges duplicates, but you may not merge them: "
                                "%(reason)s") % {**named, "reason": refusal})
        else:
            verdict.reason = (_("%(record)s duplicates %(other)s (same %(field)s); the pool merges duplicates, "
                                "but you may not merge them: %(reason)s") % {**named, "reason": refusal})


def _may_merge(schema: Any, actor: Any, into: Any, row: Any) -> tuple[str | None, Any]:
    """(None, the actor's edit decision on the survivor) when the actor may merge `row` into
    `into` (as `do_merge_records` checks: edit the survivor; edit and delete the merged-away
    record), else (the reason they may not, None)."""
    from access.decisions import decide

    if actor is None:
        return _("nobody is there to merge them."), None
    checks = []
    if into is not None:
        checks.append((into, "edit"))
    if not isinstance(row, Mapping) and getattr(row, "pk", None) is not None:
        checks += [(row, "delete"), (row, "edit")]
    survivor = None
    for record, action in checks:
        decision = decide(actor, record, action, schema=schema, path="merge")
        if not decision.allowed:
            if not decision.found:
                return _("you cannot see #%(id)d.") % {"id": record.pk}, None
            return _("“%(record)s”: %(reason)s") % {"record": record, "reason": decision.reason}, None
        if record is into:
            survivor = decision
    return None, survivor


# --- the marks: records let in as possible duplicates of others ----------------------------------

def possible_duplicates(user: Any, schema: Any, records: Sequence[Any]) -> dict[int, list[int]]:
    """{record pk: the pks of the records it may duplicate} among those the user may see and
    that still exist (two queries for a page of records, none when no pair was recorded)."""
    from access.visibility import visible

    from .models import PossibleDuplicate

    ids = [record.pk for record in records]
    if not ids or schema.key not in MATCH_FIELDS:
        return {}
    pairs = list(PossibleDuplicate.objects.filter(Q(record_id__in=ids) | Q(other_id__in=ids),
                                                  org_id=schema.org.pk, module=schema.key)
                 .values_list("record_id", "other_id"))
    if not pairs:
        return {}
    wanted = set(ids)
    others: dict[int, set[int]] = {}
    for one, two in pairs:
        if one in wanted:
            others.setdefault(one, set()).add(two)
        if two in wanted:
            others.setdefault(two, set()).add(one)
    every = {pk for found in others.values() for pk in found}
    seen = set(visible(user, schema, "view", listing=False).filter(pk__in=every).values_list("pk", flat=True))
    return {pk: sorted(found & seen) for pk, found in others.items() if found & seen}


def _mark_title(others: list[int]) -> str:
    return _("Possible duplicate of %(records)s") % {"records": ", ".join(f"#{pk}" for pk in others)}


def _no_pools(user: Any, schema: Any) -> bool:
    """An org without pools of the module pays nothing (the facts are cached)."""
    from .selectors import pool_facts

    return schema.key not in MATCH_FIELDS or schema.key not in pool_facts(user)


def row_marks(user: Any, schema: Any, records: Sequence[Any]) -> dict[int, list[dict[str, str]]]:
    """The mark on a module list's rows."""
    if _no_pools(user, schema):
        return {}
    return {pk: [{"icon": "intersect", "title": _mark_title(others), "kind": "pool-duplicate"}]
            for pk, others in possible_duplicates(user, schema, records).items()}


def header_panel(user: Any, schema: Any, record: Any) -> list[dict]:
    """On the record page, beside the pool card: the records it may duplicate, linked."""
    if _no_pools(user, schema):
        return []
    others = possible_duplicates(user, schema, [record]).get(record.pk)
    if not others:
        return []
    return [{"template": "pool/includes/door_panel.html", "others": others, "module_key": schema.key}]
