"""Validation and layout rule pages, and the record form's layout endpoint (in the automation namespace)."""
from django.urls import path

from . import rule_views as views

urlpatterns = []
for kind in (views.VALIDATION, views.LAYOUT):
    name, pk = kind.name, f"<int:{kind.name}_rule_pk>"
    module, prefix = f"settings/automation/m/<slug:module>/{name}", f"settings/automation/{name}"
    urlpatterns += [
        path(f"{module}/", views.RuleListView.as_view(kind=kind), name=f"{name}_rules"),
        path(f"{module}/new/", views.RuleFormView.as_view(kind=kind), name=f"{name}_rule_new"),
        path(f"{prefix}/{pk}/", views.RuleFormView.as_view(kind=kind), name=f"{name}_rule"),
        path(f"{prefix}/{pk}/delete/", views.RuleDeleteView.as_view(kind=kind), name=f"{name}_rule_delete"),
        path(f"{prefix}/{pk}/active/", views.RuleActiveView.as_view(kind=kind), name=f"{name}_rule_active"),
        path(f"{prefix}/{pk}/move/", views.RuleMoveView.as_view(kind=kind), name=f"{name}_rule_move"),
    ]
urlpatterns += [
    path("m/<slug:module>/layout-state/", views.LayoutStateView.as_view(), name="layout_state"),
    path("m/<slug:module>/<int:pk>/layout-state/", views.LayoutStateView.as_view(), name="layout_state_record"),
]
