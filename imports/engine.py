"""Going through an import's rows: each row becomes a record written by the record actions
(the batch actions `do_create_records` for new records and `do_update_records` for matched
ones, path "import"), so permissions, field permissions, locks, blueprints, validation rules,
assignment rules and workflow triggers apply as to a typed record. A failing row is reported
with its reason and writes nothing; the others go in.

The dry run goes through the same rows and the same actions inside a transaction it rolls back,
so its preview is what the import will do. The real run commits batch by batch, with the batch's
counts and its "done up to row N" mark in the same transaction: a worker that dies resumes after
the last committed batch.

Cost per batch of BATCH rows, whatever its size: one query per lookup column and one for the
duplicates; the batch actions' few queries (the users and lookups the rows name, unique values,
owners; for updates the rows locked at once and saved by one UPDATE) and one COPY each
for the records, their timeline entries, their outbox events and the import's own results; one
Celery task for the batch's events. Creates wait in `pending` and updates in `pending_updates`,
each kind going in together through its batch action (`do_create_records`, `do_update_records`);
a row of the other kind, or one like a row still waiting, first writes the waiting ones, so every
row sees the rows before it as if they went in one by one. See docs/import.md and
docs/benchmarks.md ("Import") for the rows per second this gives and where the time goes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from access.visibility import visible
from crm.actions import (ConflictError, RecordValidationError, do_create_record, do_create_records,
                         do_update_record, do_update_records)
from crm.modules import get_module

from . import mapping, placement, reading
from .models import ImportJob
from .values import CellError, Lookups, People, check_cell, convert, match_value

logger = logging.getLogger(__name__)
BATCH = 1000  # rows per batch: one transaction, one batch action, one task for their events
PREVIEW_ROWS = 50
PREVIEW_ERRORS = 100


@dataclass
class Outcome:
    row: int
    outcome: str  # create, update, skip, error
    reason: str = ""
    title: str = ""
    record_id: int | None = None
    cells: list[Any] = field(default_factory=list)
    written: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> dict[str, Any]:
        return {"row": self.row, "outcome": self.outcome, "reason": self.reason, "title": self.title[:100]}


@dataclass
class Prepared:
    row: reading.Row
    data: dict[str, Any]
    owner: Any = None
    errors: list[str] = field(default_factory=list)
    key: tuple[str, ...] | None = None


class ImportStopped(Exception):
    """The import cannot go on (the file, the mapping): the reason is for the person."""


class Importer:
    def __init__(self, job: ImportJob, actor: Any) -> None:
        self.job, self.actor = job, actor
        self.schema = get_module(job.module, job.org).bind(job.org)
        choices = {target.key: target for target in mapping.targets(self.schema, actor)}
        gone = [key for key in job.mapping.values() if key not in choices]
        if gone:
            raise ImportStopped(_("You may no longer import into these fields: %(fields)s. Map the columns again.")
                                % {"fields": ", ".join(sorted(gone))})
        self.columns = sorted((int(index), choices[key]) for index, key in job.mapping.items())
        self.width = len(job.headers)
        self.people = People(job.org)
        self.lookups = Lookups(actor, job.org)
        self.match_specs = ([self.schema.field(key) for key in job.match_fields if self.schema.has_field(key)]
                            if job.duplicates != ImportJob.Duplicates.CREATE else [])
        self.seen: dict[tuple[str, ...], tuple[int, Any]] = {}  # match key -> (row, record written by it)
        self.pending: list[tuple[Prepared, Outcome]] = []  # creates waiting for the batch create action
        # updates waiting for the batch update action: (row, outcome, target, its values before)
        self.pending_updates: list[tuple[Prepared, Outcome, Any, dict[str, Any]]] = []
        self.pending_targets: set[int] = set()  # the records of `pending_updates`
        self.place = placement.resolve(job.place)  # where new records go (a customer pool), or None
        if job.place and self.place is None:
            raise ImportStopped(_("The place chosen for the new records no longer exists. Map the columns again."))

    # --- rows ------------------------------------------------------------------------------

    def rows(self) -> Iterator[reading.Row]:
        from django.core.files.storage import default_storage

        with default_storage.open(self.job.file_path, "rb") as stream:
            try:
                _names, rows = reading.table(stream, self.job.file_format, self.job.encoding or "utf-8")
                yield from rows
            except reading.FileProblem as problem:
                raise ImportStopped(str(problem)) from None

    def batches(self, after: int = 0) -> Iterator[list[reading.Row]]:
        batch: list[reading.Row] = []
        for row in self.rows():
            if row.number <= after:
                continue
            batch.append(row)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def prepare(self, row: reading.Row) -> Prepared:
        prepared = Prepared(row, {})
        extra = [cell for cell in row.cells[self.width:] if not reading.blank(cell)]
        if extra or (self.job.file_format == "csv" and row.width < self.width):
            prepared.errors.append(_("This row has %(cells)d cells but the header has %(columns)d columns "
                                     "(a separator or quote out of place?).")
                                   % {"cells": row.width, "columns": self.width})
            return prepared
        for index, target in self.columns:
            value = row.cells[index] if index < len(row.cells) else None
            if reading.blank(value):
                continue  # an empty cell sets nothing (and never clears a value on update)
            header = self.job.headers[index]
            try:
                check_cell(value)
                if target.spec is None:
                    prepared.owner = self.people.user(self.people.find(value))
                else:
                    prepared.data[target.key] = convert(target.spec, value, day_first=self.job.day_first,
                                                        people=self.people, lookups=self.lookups)
            except ValidationError as exc:
                prepared.errors.append(f"{header}: {' '.join(exc.messages)}")
        if self.match_specs and all(spec.key in prepared.data for spec in self.match_specs):
            prepared.key = tuple(match_value(spec, prepared.data[spec.key]) for spec in self.match_specs)
        return prepared

    def existing(self, keys: set[tuple[str, ...]]) -> dict[tuple[str, ...], list[Any]]:
        """Records the importer can see that match the batch's rows (one query)."""
        if not keys or not self.match_specs:
            return {}
        queryset = visible(self.actor, self.schema, "view", listing=False)
        for i, spec in enumerate(self.match_specs):
            expression = (Lower(KeyTextTransform(spec.key, spec.json_column)) if spec.is_custom
                          else Lower(F(spec.key)))
            queryset = queryset.annotate(**{f"import_match_{i}": expression}).filter(
                **{f"import_match_{i}__in": sorted({key[i] for key in keys})})
        found: dict[tuple[str, ...], list[Any]] = {}
        for record in queryset.order_by("pk"):
            key = tuple(getattr(record, f"import_match_{i}") or "" for i in range(len(self.match_specs)))
            found.setdefault(key, []).append(record)
        return found

    def run_batch(self, rows: list[reading.Row]) -> list[Outcome]:
        for _index, target in self.columns:
            if target.spec is not None and target.spec.type == "lookup":
                self.lookups.load(target.spec, [row.cells[_index] for row in rows if _index < len(row.cells)])
        prepared = [self.prepare(row) for row in rows]
        matches = self.existing({p.key for p in prepared if p.key is not None and not p.errors})
        outcomes = [self.outcome(p, matches) for p in prepared]
        self.flush()
        for item, p in zip(outcomes, prepared):
            if item.outcome == "error":
                item.cells = [reading.display(cell) for cell in p.row.cells]  # for the error file
        return outcomes

    # --- one row -----------------------------------------------------------------------------

    def outcome(self, prepared: Prepared, matches: dict[tuple[str, ...], list[Any]]) -> Outcome:
        """What the row does. A create or an update waits for its batch action (`flush`); a row
        like one still waiting, or of the other kind than the waiting ones, first writes them, so
        every row sees the rows before it written, as if they went in one by one."""
        row = prepared.row
        outcome = Outcome(row.number, "error")
        if prepared.errors:
            outcome.reason = " ".join(prepared.errors)
            return outcome
        title = str(prepared.data.get(self.schema.title_field, "") or "")
        outcome.title = title
        target = None
        if prepared.key is not None:
            if prepared.key in self.seen and self.seen[prepared.key][1] is None:
                self.flush()  # the earlier row like this one is still waiting: write it first
            earlier = self.seen.get(prepared.key)
            existing = matches.get(prepared.key, [])
            if self.job.duplicates == ImportJob.Duplicates.SKIP and (earlier is not None or existing):
                outcome.outcome = "skip"
                outcome.reason = (_("Same as row %(row)d.") % {"row": earlier[0]} if earlier
                                  else _("A record like this exists: “%(record)s”.") % {"record": existing[0]})
                return outcome
            if earlier is not None:
                target = earlier[1]
            elif len(existing) > 1:
                outcome.reason = _("%(count)d records match this row; it is not clear which to update.") % {
                    "count": len(existing)}
                return outcome
            elif existing:
                target = existing[0]
        if target is None:
            if self.pending_updates:
                self.flush()
            self.pending.append((prepared, outcome))
        else:
            if self.pending or target.pk in self.pending_targets:
                self.flush()
            self.pending_updates.append((prepared, outcome, target, self.values(target, prepared.data)))
            self.pending_targets |= {target.pk}
        if prepared.key is not None:
            self.seen[prepared.key] = (row.number, None)  # waiting: `flush` sets the record
        return outcome

    def flush(self) -> None:
        """Write the waiting rows with their batch action; each gets its record or its reason."""
        if self.pending:
            self.flush_creates()
        if self.pending_updates:
            self.flush_updates()

    def flush_creates(self) -> None:
        waiting, self.pending = self.pending, []
        if self.place is not None:
            waiting = self.placeable(waiting)
            if not waiting:
                return
        try:
            results = do_create_records(self.schema, [p.data for p, _o in waiting], actor=self.actor, path="import",
                                        owners=[p.owner for p, _o in waiting])
        except PermissionDenied as exc:
            results = [exc] * len(waiting)
        except DatabaseError:
            # Nothing of the batch was written (its savepoint rolled back): one by one, so only the
            # row the database refuses fails.
            logger.exception("import %s: a batch failed; writing its rows one by one", self.job.pk)
            results = [self.create_one(p) for p, _o in waiting]
        for (prepared, outcome), result in zip(waiting, results):
            if isinstance(result, Exception):
                outcome.outcome, outcome.reason = "error", self.reason(result, prepared.row.number)
                if prepared.key is not None:
                    self.seen.pop(prepared.key, None)
                continue
            outcome.outcome, outcome.record_id, outcome.title = "create", result.pk, str(result)
            outcome.written = self.values(result, prepared.data)
            if prepared.key is not None:
                self.seen[prepared.key] = (prepared.row.number, result)
        if self.place is not None:
            place, value = self.place
            created = [result for result in results if not isinstance(result, Exception)]
            if created:
                place.place(self.schema, created, value, self.actor, "import")

    def placeable(self, waiting: list[tuple[Prepared, Outcome]]) -> list[tuple[Prepared, Outcome]]:
        """The waiting rows the chosen place takes. The others fail with its reason, or fill the
        empty fields of the stored record it names (an update, written after the creates)."""
        place, value = self.place
        answers = place.check(self.schema, [{**p.data, "_row": p.row.number} for p, _o in waiting], value,
                              self.actor)
        kept = []
        for (prepared, outcome), answer in zip(waiting, answers):
            if answer is None:
                kept.append((prepared, outcome))
                continue
            if prepared.key is not None:
                self.seen.pop(prepared.key, None)
            if isinstance(answer, str):
                outcome.outcome, outcome.reason = "error", answer
                continue
            if answer.pk in self.pending_targets:
                first = next(p for p, _o, target, _b in self.pending_updates if target.pk == answer.pk)
                outcome.outcome = "skip"
                outcome.reason = _("Same customer as row %(row)d, which fills “%(record)s”.") % {
                    "row": first.row.number, "record": answer}
                continue
            blanks = {key: v for key, v in prepared.data.items()
                      if self.schema.field(key).get_value(answer) in (None, "", [])}
            filling = Prepared(prepared.row, blanks, key=prepared.key)
            self.pending_updates.append((filling, outcome, answer, self.values(answer, blanks)))
            self.pending_targets |= {answer.pk}
        return kept

    def flush_updates(self) -> None:
        waiting, self.pending_updates, self.pending_targets = self.pending_updates, [], set()
        items = [(target.pk, prepared.data, target.version) for prepared, _o, target, _b in waiting]
        try:
            results = do_update_records(self.schema, items, actor=self.actor, path="import")
        except PermissionDenied as exc:
            results = [exc] * len(waiting)
        except DatabaseError:
            logger.exception("import %s: a batch of updates failed; writing its rows one by one", self.job.pk)
            results = [self.update_one(prepared, target) for prepared, _o, target, _b in waiting]
        for (prepared, outcome, target, before), result in zip(waiting, results):
            if isinstance(result, Exception):
                outcome.outcome, outcome.reason = "error", self.reason(result, prepared.row.number)
                if prepared.key is not None:
                    self.seen[prepared.key] = (prepared.row.number, target)  # a later row like it: still that one
                continue
            self.updated(outcome, result, prepared.data, before)
            if prepared.key is not None:
                self.seen[prepared.key] = (prepared.row.number, result)  # a later row like it: the same record

    def create_one(self, prepared: Prepared) -> Any:
        try:
            return do_create_record(self.schema, prepared.data, actor=self.actor, path="import",
                                    owner=prepared.owner)
        except Exception as exc:
            return exc

    def reason(self, exc: Exception, row: int) -> str:
        """Why a row failed, for the person (an unexpected error is logged and re-raised)."""
        if isinstance(exc, RecordValidationError):
            return self.describe(exc)
        if isinstance(exc, ConflictError):
            return str(exc)
        if isinstance(exc, PermissionDenied):
            return str(exc.args[0]) if exc.args else _("You may not do this.")
        if isinstance(exc, ValidationError):
            return " ".join(exc.messages)
        if isinstance(exc, DatabaseError):
            logger.error("import %s: row %s could not be saved: %s", self.job.pk, row, exc)
            return _("This row could not be saved.")
        raise exc

    def update_one(self, prepared: Prepared, target: Any) -> Any:
        try:
            return do_update_record(target, prepared.data, version=target.version, actor=self.actor, path="import",
                                    schema=self.schema)
        except Exception as exc:
            return exc

    def updated(self, outcome: Outcome, record: Any, data: dict[str, Any], before: dict[str, Any]) -> None:
        after = self.values(record, data)
        changed = {key for key in after if after[key] != before.get(key)}
        outcome.record_id, outcome.title = record.pk, str(record)
        if not changed:
            outcome.outcome, outcome.reason = "skip", _("Nothing to change in “%(record)s”.") % {"record": record}
            return
        outcome.outcome = "update"
        outcome.written = {key: after[key] for key in changed}
        outcome.before = {key: before.get(key) for key in changed}

    def values(self, record: Any, data: dict[str, Any]) -> dict[str, Any]:
        specs = [self.schema.field(key) for key in data]
        return {spec.key: spec.field_type.to_json(spec.get_value(record)) for spec in specs}

    def describe(self, exc: RecordValidationError) -> str:
        parts = []
        for key, messages in exc.message_dict.items():
            label = self.schema.field(key).label if key != "__all__" and self.schema.has_field(key) else ""
            text = " ".join(messages)
            parts.append(f"{label}: {text}" if label else text)
        return " ".join(parts)


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)
    errors_shown: int = 0

    def add(self, outcomes: list[Outcome], keep_preview: bool = True) -> None:
        for item in outcomes:
            if item.outcome == "create":
                self.created += 1
            elif item.outcome == "update":
                self.updated += 1
            elif item.outcome == "skip":
                self.skipped += 1
            else:
                self.failed += 1
            if not keep_preview:
                continue
            if len(self.preview) < PREVIEW_ROWS:
                self.preview.append(item.shown())
            elif item.outcome == "error" and self.errors_shown < PREVIEW_ERRORS:
                self.preview.append(item.shown())
                self.errors_shown += 1

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped, "failed": self.failed}


def dry_run(job: ImportJob, actor: Any, progress: Callable[[int], None]) -> Tally:
    """What the import would do, row by row, through the real actions, all rolled back."""
    importer = Importer(job, actor)
    tally = Tally()
    done = 0
    with transaction.atomic():
        for batch in importer.batches():
            tally.add(importer.run_batch(batch))
            done += len(batch)
            progress(done)
        transaction.set_rollback(True)
    return tally


def real_run(job: ImportJob, actor: Any, progress: Callable[[int], None]) -> None:
    """Write the rows: batch by batch (each committed with its counts), or, for "whole file or
    nothing", all in one transaction rolled back when any row fails."""
    from . import actions

    importer = Importer(job, actor)
    done = job.rows_done
    if not job.all_or_nothing:
        for batch in importer.batches(after=job.rows_done):
            with transaction.atomic():
                outcomes = importer.run_batch(batch)
                actions.do_record_batch(job, outcomes, rows_done=batch[-1].number)
            done += len(batch)
            progress(done)
        return
    tally = Tally()
    failures: list[Outcome] = []
    with transaction.atomic():
        for batch in importer.batches():
            outcomes = importer.run_batch(batch)
            tally.add(outcomes, keep_preview=False)
            failures += [item for item in outcomes if item.outcome == "error"]
            actions.do_record_batch(job, outcomes, rows_done=batch[-1].number)
            done += len(batch)
            progress(done)
        if failures:
            transaction.set_rollback(True)
    if failures:
        job.refresh_from_db()
        actions.do_record_nothing_written(job, failures, skipped=tally.skipped)
