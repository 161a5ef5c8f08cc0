"""URLs of the e-mail templates and the webhook log (included by automation/urls.py)."""
from django.urls import path

from . import mail_views, webhook_views

urlpatterns = [
    path("settings/automation/email-templates/", mail_views.EmailTemplateListView.as_view(), name="email_templates"),
    path("settings/automation/email-templates/new/", mail_views.EmailTemplateFormView.as_view(),
         name="email_template_new"),
    path("settings/automation/email-templates/<int:pk>/", mail_views.EmailTemplateFormView.as_view(),
         name="email_template"),
    path("settings/automation/email-templates/<int:pk>/delete/", mail_views.EmailTemplateDeleteView.as_view(),
         name="email_template_delete"),
    path("settings/automation/email-templates/<int:pk>/preview/", mail_views.EmailTemplatePreviewView.as_view(),
         name="email_template_preview"),
    path("settings/automation/webhooks/", webhook_views.WebhookLogView.as_view(), name="webhooks"),
    path("settings/automation/webhooks/<int:pk>/", webhook_views.WebhookDeliveryView.as_view(),
         name="webhook_delivery"),
]
