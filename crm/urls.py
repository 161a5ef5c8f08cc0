from django.urls import path

from . import file_views, lookup_views, search_views, settings_views, sharing_urls, views
from .board_views import board_urlpatterns

app_name = "crm"
urlpatterns = [
    path("settings/modules/", settings_views.ModuleSettingsView.as_view(), name="settings_modules"),
    path("settings/fields/<slug:module>/", settings_views.FieldListView.as_view(), name="settings_fields"),
    path("settings/fields/<slug:module>/new/", settings_views.FieldFormView.as_view(), name="settings_field_new"),
    path("settings/fields/<slug:module>/<int:pk>/", settings_views.FieldFormView.as_view(),
         name="settings_field_edit"),
    path("settings/users/<int:membership_pk>/reassign/", settings_views.ReassignView.as_view(),
         name="settings_reassign"),
    path("settings/recycle-bin/", views.RecycleBinView.as_view(), name="recycle_bin"),
    path("search/", search_views.SearchView.as_view(), name="search"),
    path("members/lookup/", lookup_views.MemberLookupView.as_view(), name="member_lookup"),
    path("m/<slug:module>/", views.RecordListView.as_view(), name="list"),
    path("m/<slug:module>/lookup/", lookup_views.RecordLookupView.as_view(), name="lookup"),
    path("m/<slug:module>/new/", views.RecordFormView.as_view(), name="create"),
    path("m/<slug:module>/owner/", views.ChangeOwnerView.as_view(), name="bulk_owner"),
    path("m/<slug:module>/bulk-edit/", views.BulkEditView.as_view(), name="bulk_edit"),
    path("m/<slug:module>/<int:pk>/", views.RecordDetailView.as_view(), name="detail"),
    path("m/<slug:module>/<int:pk>/edit/", views.RecordFormView.as_view(), name="edit"),
    path("m/<slug:module>/<int:pk>/delete/", views.RecordDeleteView.as_view(), name="delete"),
    path("m/<slug:module>/<int:pk>/owner/", views.ChangeOwnerView.as_view(), name="owner"),
    path("m/<slug:module>/<int:pk>/notes/", views.NoteView.as_view(), name="note_add"),
    path("m/<slug:module>/<int:pk>/notes/<int:note_pk>/edit/", views.NoteEditView.as_view(), name="note_edit"),
    path("m/<slug:module>/<int:pk>/notes/<int:note_pk>/delete/", views.NoteDeleteView.as_view(), name="note_delete"),
    path("m/<slug:module>/<int:pk>/fields/<slug:field_key>/", views.InlineFieldView.as_view(), name="field"),
    path("m/<slug:module>/<int:pk>/fields/<slug:field_key>/edit/", views.InlineFieldEditView.as_view(),
         name="field_edit"),
    path("m/<slug:module>/<int:pk>/files/<slug:field_key>/", file_views.FieldFileView.as_view(), name="field_file"),
    path("m/<slug:module>/<int:pk>/attachments/", views.AttachmentUploadView.as_view(), name="attachment_add"),
    path("m/<slug:module>/<int:pk>/attachments/<int:attachment_pk>/",
         views.AttachmentDownloadView.as_view(), name="attachment_download"),
    path("m/<slug:module>/<int:pk>/attachments/<int:attachment_pk>/delete/",
         views.AttachmentDeleteView.as_view(), name="attachment_delete"),
    *sharing_urls.urlpatterns,
    *board_urlpatterns,
]
