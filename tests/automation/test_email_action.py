"""E-mail templates and the workflow action "e-mail": merge fields rendered in a sandbox with the
rule's actor's view of the record, recipients, sending once, the timeline, and the settings pages."""
from __future__ import annotations

import time
import uuid

import pytest
from django.core.exceptions import ValidationError

from tests.workers import thread_worker
from access.models import Profile
from access.sharing_actions import do_clone_profile, do_set_profile_field_levels, do_set_user_profile
from access.visibility import bind_org
from automation import mail_actions
from automation.mail_models import EmailTemplate, OutgoingEmail
from automation.mail_tasks import send_rule_email
from automation.run_models import RuleRun
from automation.workflow_actions import ActionError, action_kind
from crm import actions as crm_actions
from crm.models import TimelineEntry
from crm.modules import get_module
from teams import actions as team_actions
from tests.automation.wfaction_helpers import context_for
from tests.teams.conftest import (STATUSES, case_studies, manager, marketing, member, outsider,  # noqa: F401
                                  participant, requester)

EMAIL = action_kind("email")


def template(actor, body="Deal {{ record.name }} of {{ record.owner }} closes {{ record.close_date }}.",
             subject="Won: {{ record.name }}", module="deals", name=None):
    return mail_actions.do_create_email_template(
        {"name": name or f"T {uuid.uuid4().hex[:6]}", "module": module, "subject": subject, "body": body},
        actor=actor)


@pytest.fixture
def deal(admin_user):
    deal = crm_actions.do_create_record("deals", {"name": "Big deal", "amount": "7777", "close_date": "2026-12-24",
                                                  "stage": "qualification"}, actor=admin_user)
    deal.refresh_from_db()  # as the rule engine reads it
    return deal


def run_email(config, context, committed):
    with committed(execute=True):
        return EMAIL.run(EMAIL.clean(config, context.schema, context.schema.org), context)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def emails_on_timeline(record):
    return list(TimelineEntry.objects.filter(record_id=record.pk, kind="email_sent").order_by("pk"))


# --- rendering -----------------------------------------------------------------------------------

def test_merge_fields_render_and_unknown_ones_are_empty(admin_user, deal, committed, mailoutbox, settings):
    tpl = template(admin_user, body="Hi {{ record.owner }}: {{ record.name }}, {{ record.amount }}, "
                                    "{{ record.close_date }} [{{ record.no_such_field }}] {{ record.url }} {{ rule }}")
    result = run_email({"template": tpl.pk, "to": {"owner": True}}, context_for(deal, admin_user), committed)
    assert result == "E-mail “Won: Big deal” to admin@acme.test"
    [mail] = mailoutbox
    assert mail.subject == "Won: Big deal" and mail.to == ["admin@acme.test"]
    assert mail.body == (f"Hi Alice Admin: Big deal, 7,777.00, 12/24/2026 [] "
                         f"{settings.SITE_URL}/m/deals/{deal.pk}/ Won deals")


def test_a_field_hidden_from_the_rules_actor_never_reaches_the_mail(admin_user, standard_user, committed,
                                                                    mailoutbox):
    profile = do_clone_profile(Profile.objects.get(org=admin_user.org, name="Standard"), "No amounts",
                               actor=admin_user)
    deals = get_module("deals", admin_user.org).bind(admin_user.org)
    do_set_profile_field_levels(profile, "deals", {"amount": "hidden"}, actor=admin_user, known_modules=["deals"],
                                known_field_keys=[f.key for f in deals.fields])
    do_set_user_profile(standard_user.membership, profile, actor=admin_user)
    actor = bind_org(standard_user, admin_user.org)
    deal = crm_actions.do_create_record("deals", {"name": "Secret deal", "amount": "987654", "stage": "qualification"},
                                        actor=admin_user, owner=actor)
    tpl = template(admin_user, subject="{{ record.amount }} {{ record.name }}",
                   body="Amount: {{ record.amount }}{{ record.Amount }}{% for k, v in record.items %}{{ v }}{% endfor %}")
    run_email({"template": tpl.pk, "to": {"addresses": "boss@example.test"}}, context_for(deal, actor), committed)
    [mail] = mailoutbox
    assert "987" not in mail.subject + mail.body + mail.alternatives[0][0]
    assert "Secret deal" in mail.subject


def test_values_are_escaped_in_the_html_part(admin_user, committed, mailoutbox):
    deal = crm_actions.do_create_record("deals", {"name": "<script>x</script> & Co", "stage": "qualification"},
                                        actor=admin_user)
    tpl = template(admin_user, body="Deal <{{ record.name }}>, {{ record.name|safe }}\nSee {{ record.url }}")
    run_email({"template": tpl.pk, "to": {"owner": True}}, context_for(deal, admin_user), committed)
    html = mailoutbox[0].alternatives[0][0]
    # The body is plain text, escaped in full: values (even marked safe) and the author's "<" alike.
    assert html.startswith("<p>Deal &lt;&lt;script&gt;x&lt;/script&gt; &amp; Co&gt;, &lt;script&gt;x&lt;/script&gt;")
    assert "<script>" not in html
    assert f'<a href="{deal.get_absolute_url()}' not in html and 'rel="nofollow"' in html  # the link is clickable
    assert mailoutbox[0].body.startswith("Deal <<script>x</script> & Co>")  # the text part as written


@pytest.mark.parametrize("body", ['{% include "base.html" %}', "{% debug %}", "{% load static %}",
                                  '{% extends "base.html" %}', "{{ record._meta }}", "{% if %}"])
def test_templates_that_could_reach_beyond_the_record_are_refused(admin_user, body):
    with pytest.raises(ValidationError) as refused:
        template(admin_user, body=body)
    assert "body" in refused.value.message_dict
    assert not EmailTemplate.objects.exists()


# --- recipients ----------------------------------------------------------------------------------

def test_recipients_owner_users_a_field_and_fixed_addresses_once_each(admin_user, standard_user, committed,
                                                                        mailoutbox):
    contact = crm_actions.do_create_record("contacts", {"last_name": "Lee", "email": "lee@client.test"},
                                           actor=admin_user, owner=standard_user)
    tpl = template(admin_user, module="", subject="Hello {{ record.title }}", body="x")
    config = {"template": tpl.pk, "to": {"owner": True, "users": [str(admin_user.pk)], "field": "email",
                                          "addresses": "ops@example.test, SAM@example.test"}}
    run_email(config, context_for(contact, admin_user), committed)
    assert sorted(m.to[0] for m in mailoutbox) == ["admin@acme.test", "lee@client.test", "ops@example.test",
                                                    "sam@example.test"]  # sam as owner and as address: once
    assert all(len(m.to) == 1 for m in mailoutbox)  # nobody sees the others' addresses


def test_the_requester_and_assignee_of_a_team_request(case_studies, manager, member, requester, committed,
                                                     mailoutbox):
    request = team_actions.do_submit_request(case_studies, {"title": "Acme story"}, actor=requester)
    request = team_actions.do_assign(request, member.pk, version=request.version, actor=manager)
    tpl = template(manager, module=case_studies.key, subject="{{ record.title }} is {{ record.status }}", body="x")
    run_email({"template": tpl.pk, "to": {"requester": True, "assignee": True}},
              context_for(request, manager, module=case_studies.key), committed)
    assert sorted(m.to[0] for m in mailoutbox) == sorted([requester.email, member.email])


def test_a_missing_address_is_an_error_in_the_run_log_not_a_crash(admin_user, deal, committed, mailoutbox):
    contact = crm_actions.do_create_record("contacts", {"last_name": "Nomail"}, actor=admin_user)
    tpl = template(admin_user, module="", body="x")
    context = context_for(contact, admin_user)
    with pytest.raises(ActionError) as failed:
        run_email({"template": tpl.pk, "to": {"field": "email"}}, context, committed)
    assert str(failed.value) == "No e-mail sent: the field “Email” is empty."
    assert mailoutbox == [] and not OutgoingEmail.objects.exists()
    # With another address the e-mail goes there, and the result says who was left out.
    result = run_email({"template": tpl.pk, "to": {"field": "email", "addresses": "ops@example.test"}},
                       context_for(contact, admin_user, key="run-2"), committed)
    assert [m.to for m in mailoutbox] == [["ops@example.test"]]
    assert result.endswith("not sent: the field “Email” is empty")


def test_settings_are_checked_naming_the_setting(admin_user, other_org_user, deal):
    deals = get_module("deals", admin_user.org).bind(admin_user.org)
    tpl = template(admin_user)
    leads_tpl = template(admin_user, module="leads")
    foreign = template(other_org_user, module="deals")

    def error(config):
        with pytest.raises(ValidationError) as refused:
            EMAIL.clean(config, deals, admin_user.org)
        return refused.value.message_dict

    assert "template" in error({"template": leads_tpl.pk, "to": {"owner": True}})
    assert "template" in error({"template": foreign.pk, "to": {"owner": True}})
    assert "template" in error({"template": "x", "to": {"owner": True}})
    assert error({"template": tpl.pk, "to": {}}) == {"to": ["Choose at least one recipient."]}
    assert "to" in error({"template": tpl.pk, "to": {"addresses": "not-an-address"}})
    assert "to" in error({"template": tpl.pk, "to": {"users": [other_org_user.pk]}})
    assert "to" in error({"template": tpl.pk, "to": {"field": "name"}})
    assert "to" in error({"template": tpl.pk, "to": {"requester": True}})  # deals have no requester
    assert EMAIL.clean({"template": str(tpl.pk), "to": {"owner": "on"}}, deals, admin_user.org) == {
        "template": tpl.pk, "to": {"owner": True, "assignee": False, "requester": False, "users": [], "field": "",
                                   "addresses": []}}


def test_the_dry_run_describes_without_sending(admin_user, deal, mailoutbox):
    tpl = template(admin_user)
    config = EMAIL.clean({"template": tpl.pk, "to": {"owner": True, "addresses": "b@example.test"}},
                         get_module("deals", admin_user.org).bind(admin_user.org), admin_user.org)
    assert EMAIL.describe(config, context_for(deal, admin_user)) == (
        "E-mail “Won: Big deal” to admin@acme.test, b@example.test")
    assert mailoutbox == [] and not OutgoingEmail.objects.exists()


# --- once, and on the timeline -------------------------------------------------------------------

def test_each_sent_mail_is_on_the_timeline_once_even_when_the_task_runs_twice(admin_user, deal, committed,
                                                                             mailoutbox):
    tpl = template(admin_user)
    context = context_for(deal, admin_user)
    config = {"template": tpl.pk, "to": {"owner": True, "addresses": "finance@example.test"}}
    run_email(config, context, committed)
    run_email(config, context, committed)  # the same action of the same run again (a retried run)
    for row in OutgoingEmail.objects.all():
        assert send_rule_email.apply(args=(row.pk,)).get() is False  # a second delivery of the task
    assert sorted(m.to[0] for m in mailoutbox) == ["admin@acme.test", "finance@example.test"]
    entries = emails_on_timeline(deal)
    assert sorted(e.changes["email_to"][1] for e in entries) == ["admin@acme.test", "finance@example.test"]
    assert {e.changes["email_subject"][1] for e in entries} == {"Won: Big deal"}
    assert {(e.path, e.actor_id) for e in entries} == {(context.path, admin_user.pk)}


def test_the_timeline_shows_the_sent_mail(admin_user, deal, committed, client_for, mailoutbox):
    run_email({"template": template(admin_user).pk, "to": {"owner": True}}, context_for(deal, admin_user), committed)
    page = client_for(admin_user).get(f"/m/deals/{deal.pk}/").content.decode()
    assert "E-mail sent" in page and "Won: Big deal" in page and "admin@acme.test" in page


def test_a_deleted_template_fails_the_action(admin_user, deal):
    tpl = template(admin_user)
    config = {"template": tpl.pk, "to": {"owner": True}}
    mail_actions.do_delete_email_template(tpl, actor=admin_user)
    with pytest.raises(ActionError):
        EMAIL.run(config, context_for(deal, admin_user))


def test_sending_that_keeps_failing_marks_the_run_failed(admin_user, deal, committed, settings):
    settings.EMAIL_BACKEND = "tests.automation.test_email_action.BrokenBackend"
    settings.CELERY_TASK_EAGER_PROPAGATES = False  # eagerly, Celery then applies each retry in turn
    BrokenBackend.calls = 0
    context = context_for(deal, admin_user)
    run_email({"template": template(admin_user).pk, "to": {"owner": True}}, context, committed)
    row = OutgoingEmail.objects.get()
    assert BrokenBackend.calls == 6  # the first try and five retries
    assert (row.status, row.attempts) == ("failed", 6) and "mail server down" in row.error
    run = RuleRun.objects.get(pk=context.run.pk)
    assert run.status == "failed" and "admin@acme.test" in run.error
    assert emails_on_timeline(deal) == []


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    calls = 0

    def send_messages(self, messages):
        BrokenBackend.calls += 1
        raise ConnectionRefusedError("mail server down")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_once(admin_user, settings):
    from django.core import mail

    deal = crm_actions.do_create_record("deals", {"name": "Big deal", "stage": "qualification"}, actor=admin_user)
    # The row as the action queues it in the rule's transaction (the action itself is tested above).
    row, _new = mail_actions.do_queue_email(
        org_id=deal.org_id, key="run-1:0", recipient="admin@acme.test", template_id=None, module="deals",
        record_id=deal.pk, run_id=None, actor_id=admin_user.pk, path="rule:workflow:1", subject="Won: Big deal",
        text="Big deal", html="<p>Big deal</p>")
    with thread_worker("email-test", settings.CELERY_BROKER_URL) as queue:
        for _i in range(2):  # the same task delivered twice, as after a lost acknowledgement
            send_rule_email.apply_async(args=(row.pk,), queue=queue)
        deadline = time.monotonic() + 30
        while not emails_on_timeline(deal) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # time for the second delivery, which must send nothing
    assert len(mail.outbox) == 1
    assert len(emails_on_timeline(deal)) == 1
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1


# --- settings pages ------------------------------------------------------------------------------

def test_an_admin_creates_edits_previews_and_deletes_templates(admin_user, deal, client_for):
    client = client_for(admin_user)
    assert 'data-testid="email-templates"' in client.get("/settings/automation/").content.decode()
    form = client.get("/settings/automation/email-templates/new/?module=deals").content.decode()
    assert "record.close_date" in form and "Close date" in form  # the fields a template may use
    response = client.post("/settings/automation/email-templates/new/",
                           {"name": "Won", "module": "deals", "subject": "Won: {{ record.name }}",
                            "body": "{{ record.name }} for {{ record.amount }}"})
    assert response.status_code == 302
    tpl = EmailTemplate.objects.get(org=admin_user.org)
    assert "Won" in client.get("/settings/automation/email-templates/").content.decode()
    preview = client.get(f"/settings/automation/email-templates/{tpl.pk}/preview/?record={deal.pk}").content.decode()
    assert "Won: Big deal" in preview
    assert 'sandbox srcdoc="&lt;p&gt;Big deal for 7,777.00&lt;/p&gt;"' in preview
    client.post(f"/settings/automation/email-templates/{tpl.pk}/",
                {"name": "Won deals", "module": "deals", "subject": "Hurray", "body": "x"})
    tpl.refresh_from_db()
    assert (tpl.name, tpl.subject) == ("Won deals", "Hurray")
    assert client.post(f"/settings/automation/email-templates/{tpl.pk}/delete/").status_code == 302
    assert not EmailTemplate.objects.exists()


def test_bad_input_is_shown_on_the_form_and_nothing_is_written(admin_user, client_for):
    client = client_for(admin_user)
    response = client.post("/settings/automation/email-templates/new/",
                           {"name": "", "module": "deals", "subject": "s", "body": "{% include 'base.html' %}"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in page and "The tag “include” is not allowed in e-mail templates." in page
    assert client.post("/settings/automation/email-templates/new/",
                       {"name": "x", "module": "nope", "subject": "s", "body": "b"}).status_code == 400
    assert not EmailTemplate.objects.exists()


def test_people_who_may_not_manage_templates_get_404(admin_user, standard_user, other_org_user, deal, client_for):
    tpl = template(admin_user)
    urls = ["/settings/automation/email-templates/", "/settings/automation/email-templates/new/",
            f"/settings/automation/email-templates/{tpl.pk}/",
            f"/settings/automation/email-templates/{tpl.pk}/preview/"]
    for user in (standard_user, other_org_user):
        client = client_for(user)
        for url in urls[2:] if user is other_org_user else urls:
            assert client.get(url).status_code == 404, (user, url)
        assert client.post(f"/settings/automation/email-templates/{tpl.pk}/delete/").status_code == 404
        assert client.get(f"/settings/automation/email-templates/{tpl.pk}/delete/").status_code == 404  # not 405
        assert client.post(f"/settings/automation/email-templates/{tpl.pk}/preview/").status_code == 404
        assert client.post(f"/settings/automation/email-templates/{tpl.pk}/",
                           {"name": "Hacked", "module": "deals", "subject": "s", "body": "b"}).status_code == 404
    assert "Hacked" not in client_for(other_org_user).get("/settings/automation/email-templates/").content.decode()
    assert EmailTemplate.objects.get().name == tpl.name
    with pytest.raises(Exception):
        mail_actions.do_update_email_template(tpl, {"name": "x", "module": "deals", "subject": "s", "body": "b"},
                                              actor=standard_user)


def test_a_team_manager_manages_the_templates_of_their_team_modules_only(admin_user, case_studies, manager,
                                                                         member, client_for):
    org_wide = template(admin_user, module="")
    client = client_for(manager)
    assert client.post("/settings/automation/email-templates/new/",
                       {"name": "Done", "module": case_studies.key, "subject": "{{ record.title }}",
                        "body": "Done"}).status_code == 302
    assert client.post("/settings/automation/email-templates/new/",
                       {"name": "Any", "module": "", "subject": "s", "body": "b"}).status_code == 400
    assert client.post("/settings/automation/email-templates/new/",
                       {"name": "Deals", "module": "deals", "subject": "s", "body": "b"}).status_code == 400
    page = client.get("/settings/automation/email-templates/").content.decode()
    assert "Done" in page and org_wide.name not in page
    assert client.get(f"/settings/automation/email-templates/{org_wide.pk}/").status_code == 404
    team_tpl = EmailTemplate.objects.get(name="Done")
    assert client_for(member).get(f"/settings/automation/email-templates/{team_tpl.pk}/").status_code == 404
    assert client_for(admin_user).get(f"/settings/automation/email-templates/{team_tpl.pk}/").status_code == 200


# --- through a real workflow rule ----------------------------------------------------------------

def test_a_won_deal_is_emailed_through_a_real_rule_once_with_a_timeline_entry(admin_user, standard_user,
                                                                             django_capture_on_commit_callbacks,
                                                                             mailoutbox, client_for):
    from automation.run_models import RuleRun as Run
    from automation.workflow_models import WorkflowRule
    from tests.automation.workflow_helpers import runs_of
    from tests.helpers import version_of

    tpl = template(admin_user, subject="Won: {{ record.name }}", body="{{ record.owner }} won {{ record.name }}.")
    # Made from the rule form, as an administrator would: the e-mail action's own settings form.
    client = client_for(admin_user)
    response = client.post("/settings/automation/m/deals/workflow/new/", {
        "name": "Won deals", "trigger": "field_change", "trigger_fields": ["stage"], "trigger_value": "won",
        "date_unit": "days", "date_before": "before", "once_per_record": "every", "joiner": "all",
        "a0-type": "email", "a0-delay_unit": "days", "a0-email-template": str(tpl.pk), "a0-email-owner": "on",
        "a0-email-addresses": "finance@example.test"})
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = WorkflowRule.objects.get(org=admin_user.org)
    assert rule.actions[0]["template"] == tpl.pk and rule.actions[0]["to"]["addresses"] == ["finance@example.test"]
    assert 'name="a0-email-template"' in client.get(f"/settings/automation/workflow/{rule.pk}/").content.decode()
    client.post(f"/settings/automation/workflow/{rule.pk}/active/", {"active": "1"})
    deal = crm_actions.do_create_record("deals", {"name": "Initech renewal", "stage": "qualification"},
                                        actor=standard_user)
    with django_capture_on_commit_callbacks(execute=True):
        crm_actions.do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=standard_user)
    assert sorted(m.to[0] for m in mailoutbox) == ["finance@example.test", "sam@example.test"]
    assert {m.subject for m in mailoutbox} == {"Won: Initech renewal"}
    [run] = runs_of(rule)
    assert run.status == Run.Status.DONE and run.actions[0]["result"].startswith("E-mail “Won: Initech renewal”")
    entries = emails_on_timeline(deal)
    assert len(entries) == 2 and {e.path for e in entries} == {f"rule:workflow:{rule.pk}"}
    page = client.get(f"/m/deals/{deal.pk}/").content.decode()
    assert "E-mail sent" in page and "Won deals" in page  # by rule “Won deals”
