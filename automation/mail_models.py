"""E-mail templates of an org and the log of e-mails sent by workflow rules."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class EmailTemplate(models.Model):
    """A subject and body with merge fields (`{{ record.name }}`), for one module or (module
    empty) for any module of the org. Rendered in a sandbox: see automation/mail_render.py."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(_("module"), max_length=60, blank=True)  # "" = any module
    name = models.CharField(_("name"), max_length=120)
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("body"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="uniq_email_template_name")]
        indexes = [models.Index(fields=["org", "module"], name="email_template_module")]

    def __str__(self) -> str:
        return self.name


class OutgoingEmail(models.Model):
    """One e-mail to one address, rendered when the rule ran and sent by a task. Unique per
    (action key, address): a re-run action or a retried task finds the row and sends nothing twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    recipient = models.CharField(max_length=254)
    template = models.ForeignKey(EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()
    run_id = models.BigIntegerField(null=True, blank=True)  # the RuleRun, marked failed if sending gives up
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    path = models.CharField(max_length=60)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key", "recipient"], name="uniq_outgoing_email")]
        indexes = [models.Index(fields=["org", "module", "record_id"], name="outgoing_email_record")]
