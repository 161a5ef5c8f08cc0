"""URLs of the e-mail templates and the webhook log (included by automation/urls.py)."""
from django.urls import path

from . import mail_views, webhook_views

TEMPLATES = "settings/automation/email-templates/"
urlpatterns = [
    path(TEMPLATES, mail_views.EmailTemplateListView.as_view(), name="email_templates"),
    path(f"{TEMPLATES}new/", mail_views.EmailTemplateFormView.as_view(), name="email_template_new"),
    path(f"{TEMPLATES}<int:template_pk>/", mail_views.EmailTemplateFormView.as_view(), name="email_template"),
    path(f"{TEMPLATES}<int:template_pk>/delete/", mail_views.EmailTemplateDeleteView.as_view(),
         name="email_template_delete"),
    path(f"{TEMPLATES}<int:template_pk>/preview/", mail_views.EmailTemplatePreviewView.as_view(),
         name="email_template_preview"),
    path("settings/automation/webhooks/", webhook_views.WebhookLogView.as_view(), name="webhooks"),
    path("settings/automation/webhooks/<int:delivery_pk>/", webhook_views.WebhookDeliveryView.as_view(),
         name="webhook_delivery"),
]
