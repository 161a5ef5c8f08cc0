"""Every write of blueprints: configuration (`config`), records moving through them
(`transitions`) and the after-actions of a transition, run after it commits (`after`)."""
from .after import do_run_after_actions, transition_path  # noqa: F401
from .config import (configurable, do_create_blueprint, do_deactivate_blueprint, do_delete_draft,  # noqa: F401
                     do_delete_transition, do_new_version, do_publish_blueprint, do_save_transition,
                     do_update_blueprint)
from .transitions import (do_enrol_records, do_mark_escalated, do_migrate_records, do_transition,  # noqa: F401
                          sync_membership)
