"""Record locking pages, included at the project root."""
from django.urls import path

from . import views

app_name = "locking"
urlpatterns = [
    path("settings/locking/", views.IndexView.as_view(), name="index"),
    path("settings/locking/rules/<int:lock_rule_pk>/", views.RuleFormView.as_view(), name="rule"),
    path("settings/locking/rules/<int:lock_rule_pk>/delete/", views.RuleDeleteView.as_view(), name="rule_delete"),
    path("settings/locking/rules/<int:lock_rule_pk>/apply/", views.ApplyRuleView.as_view(), name="rule_apply"),
    path("settings/locking/field-locks/<int:field_lock_pk>/", views.FieldLockFormView.as_view(), name="field_lock"),
    path("settings/locking/field-locks/<int:field_lock_pk>/delete/", views.FieldLockDeleteView.as_view(),
         name="field_lock_delete"),
    path("settings/locking/jobs/<int:job_pk>/", views.JobView.as_view(), name="job"),
    path("settings/locking/m/<slug:module>/", views.ModuleSettingsView.as_view(), name="module"),
    path("settings/locking/m/<slug:module>/rules/new/", views.RuleFormView.as_view(), name="rule_new"),
    path("settings/locking/m/<slug:module>/field-locks/new/", views.FieldLockFormView.as_view(),
         name="field_lock_new"),
    path("m/<slug:module>/<int:pk>/lock/", views.RecordLockView.as_view(op="lock"), name="lock"),
    path("m/<slug:module>/<int:pk>/unlock/", views.RecordLockView.as_view(op="unlock"), name="unlock"),
    path("m/<slug:module>/<int:pk>/override-unlock/", views.RecordLockView.as_view(op="override"),
         name="override_unlock"),
]
