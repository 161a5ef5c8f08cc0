from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = _("Review processes")

    def ready(self) -> None:
        from access.decisions import register_guard, register_preloader
        from access.visibility import register_list_filter
        from automation.holds import register_hold
        from crm.guards import register_after_write
        from crm.modules import register_header_panel_provider, register_row_mark_provider
        from crm.timeline import register_path_labels
        from crm.work import register_work_section

        from . import hooks, work_sections
        from .actions import open_or_resubmit
        from .selectors import REVIEW_PREFIX

        register_after_write(open_or_resubmit)
        register_guard(hooks.review_guard)
        register_preloader(hooks.preload_cases)
        register_list_filter(hooks.under_review_filter)
        register_hold(hooks.review_hold)
        register_header_panel_provider(hooks.review_panel)
        register_row_mark_provider(hooks.review_marks)
        register_path_labels(REVIEW_PREFIX, hooks.path_labels)
        register_work_section(work_sections.my_reviews, order=20, counter=work_sections.reviews_waiting)
