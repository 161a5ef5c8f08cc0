"""Record actions: the only code that writes records, split by noun.

`crm.actions.do_update_record(...)` and `from crm.actions import X` keep working: every public
name of the submodules is re-exported here. The shared pipeline (membership -> row lock ->
guards -> version check -> write -> timeline -> event on commit) lives in `base`.
"""
from .attachments import do_add_attachment, do_delete_attachment
from .base import (CUSTOM_TEXT_DEFAULT_LIMIT, CUSTOM_TEXT_LIMITS, ConflictError, RecordValidationError, References,
                   bound_schema, check_length, column_length_errors, check_reference, check_unique, check_version, clean_values,
                   json_value, record_refusals, sync_links, timeline_value)
from .batch import do_create_records
from .batch_update import do_update_records
from .fields import (COLOR_RE, FIELD_SETTINGS, clean_options, do_create_field, do_move_field,
                     do_rebuild_field_index, do_set_field_retired, do_update_field)
from .notes import MENTION_RE, do_add_note, do_delete_note, do_update_note
from .owners import do_bulk_change_owner, do_change_owner, do_reassign_records
from .records import (do_bulk_edit_records, do_create_record, do_delete_record, do_link_task,
                      do_restore_record, do_update_record)
from .recycle_bin import do_purge_recycle_bin

__all__ = [
    "COLOR_RE", "CUSTOM_TEXT_DEFAULT_LIMIT", "CUSTOM_TEXT_LIMITS", "ConflictError", "FIELD_SETTINGS",
    "MENTION_RE", "RecordValidationError", "References", "bound_schema", "check_length", "check_reference", "check_unique",
    "check_version", "clean_options", "clean_values", "do_add_attachment", "do_add_note", "do_bulk_change_owner",
    "do_bulk_edit_records", "do_change_owner", "do_create_field", "do_create_record", "do_create_records", "do_delete_attachment",
    "do_delete_note", "do_delete_record", "do_link_task", "do_move_field", "do_purge_recycle_bin",
    "do_reassign_records", "do_rebuild_field_index", "do_restore_record", "do_set_field_retired", "do_update_field", "do_update_note",
    "do_update_record", "do_update_records", "json_value", "record_refusals", "sync_links", "timeline_value",
]
