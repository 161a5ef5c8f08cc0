"""The door's writes (see `pool.door`): merging a duplicate into the record it duplicates, and
recording look-alikes let in. Called by the pool's moves inside their transaction, so a refusal
or a failed merge leaves nothing written."""
from __future__ import annotations

from typing import Any, Sequence

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm import timeline

from .door import LINK, MERGE, REFUSE, Verdict, check_entry
from .models import Pool, PossibleDuplicate

# Never filled by a merge at the door: the owner (the survivor waits in the pool, ownerless).
NOT_FILLED = {"owner"}
MAX_REASONS = 5


def _blank(value: Any) -> bool:
    return value in (None, "", [], {})


def fill_blanks(schema: Any, survivor: Any, other: Any, decision: Any) -> dict[str, int]:
    """Merge choices that keep the survivor's values and take the other record's where the
    survivor has none (fields the actor may not change there are left as they are)."""
    hidden = getattr(decision, "hidden", frozenset())
    read_only = getattr(decision, "read_only", {})
    return {spec.key: other.pk for spec in schema.fields
            if spec.editable and spec.key not in NOT_FILLED and spec.key not in hidden and spec.key not in read_only
            and _blank(spec.get_value(survivor)) and not _blank(spec.get_value(other))}


def admit(schema: Any, rows: list[Any], pool: Pool, actor: Any, *, automatic: bool = False,
          path: str = "page") -> tuple[list[Any], list[Verdict]]:
    """Pass saved records through the door into `pool`: refuse the batch (ValidationError naming
    each duplicate, nothing written) or merge duplicates into the records they duplicate (the
    merged-away record gets `merged_into`, the survivor). Returns the records that still enter
    and the verdicts to link once they are in (`record_links`)."""
    verdicts = check_entry(schema, rows, pool, actor, automatic=automatic)
    refused = [v.reason for v in verdicts if v.outcome == REFUSE]
    if refused:
        more = len(refused) - MAX_REASONS
        raise ValidationError(refused[:MAX_REASONS] + ([f"(+{more})"] if more > 0 else []))
    from dedupe.actions import do_merge_records

    survivors: dict[int, Any] = {}  # the survivor as the last merge left it
    entering = []
    for verdict in verdicts:
        if verdict.outcome != MERGE:
            entering.append(verdict.row)
            continue
        into = survivors.get(verdict.into.pk, verdict.into)
        choices = fill_blanks(schema, into, verdict.row, verdict.decision)
        merged = do_merge_records(into, [verdict.row], choices, actor=actor)
        survivors[merged.pk] = merged
        verdict.row.merged_into = merged
    for row in entering:  # a survivor entering with the batch: its version moved on with the merge
        if row.pk in survivors:
            row.version = survivors[row.pk].version
    return entering, [v for v in verdicts if v.outcome == LINK]


def record_links(schema: Any, pool: Pool, verdicts: Sequence[Verdict], *, actor: Any, path: str) -> int:
    """Mark records let in that look like others: a `PossibleDuplicate` row per pair (once) and a
    "possible duplicate" timeline entry on both records, naming the other and what matched."""
    now = timezone.now()
    pairs, entries = [], []
    for verdict in verdicts:
        row = verdict.row
        for match in verdict.matches:
            other = match.record
            if other is None or getattr(row, "pk", None) is None:
                continue
            pairs.append(PossibleDuplicate(org_id=pool.org_id, module=schema.key, record_id=row.pk, other_id=other.pk,
                                           pool=pool, fields=match.fields, actor=actor, path=path, at=now))
            for one, two in ((row, other), (other, row)):
                entries.append(timeline.entry(one, kind="pool_possible_duplicate", actor=actor, path=path, changes={
                    "duplicate_of": [None, {"id": two.pk, "name": f"#{two.pk} {two}"}],
                    "matched": [None, ", ".join(str(schema.field(key).label) for key in match.fields)]}))
    if not pairs:
        return 0
    made = PossibleDuplicate.objects.bulk_create(pairs, ignore_conflicts=True)
    timeline.write_many(entries)
    return len(made)
