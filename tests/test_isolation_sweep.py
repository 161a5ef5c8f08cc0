"""The isolation sweep: every URL pattern of the project, filled with another tenant's objects.

The resolver is walked, so a route is covered the day it is added. Every route whose URL
names a tenant object (a record of any module, a note, an attachment, a team space, a team
module, a field definition, a membership) is filled with objects of org A and requested, GET and POST, as

  (a) org B's administrator: always 404;
  (b) a standard user of org A with no access to those objects: 404; 403 only when every
      object named in the URL is visible to that user (the object exists for them, the action
      does not). The scenario makes every named object invisible to them, so in practice 404.

Each such URL is also requested with its parents taken from the requester's own world and its
child from org A (`/m/<my module>/<my record>/notes/<A's note>/delete/`), and, as a control,
by org A's administrator and the objects' owner, one of whom must get something other than
404 (else the sweep proves nothing about that route and must be taught how to reach it).

Routes whose kwargs name no tenant object (no kwargs, or only an org module key such as
`accounts`, the same in every org) are requested by org B's administrator (GET and POSTs whose
bodies carry org A's ids) and must show nothing of org A; the user of (b) GETs them and must see
nothing hidden from them. Afterwards org A's rows are compared with a snapshot taken before
(nothing changed: counts, titles, owners, versions, timeline) and no row anywhere may point
across orgs.

A URL kwarg the sweep cannot fill fails the test naming the route: teach FILLERS how.
Names in org A carry markers: "AcmeSecret" for everything of org A (org B must never see it)
and "AcmeSecretHidden" for what the user of (b) may not see either.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Exists, F, OuterRef
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

from access.actions import do_set_org_default, do_sign_up
from access import sharing_actions
from access.models import Group, Membership, Organization, OrgRole, Profile, SharingRule, User
from access.visibility import bind_org, visible
from automation.actions import do_notify
from automation.mail_models import EmailTemplate
from automation.webhook_models import WebhookDelivery
from automation.workflow_models import WorkflowRule
from automation.workflow_rule_actions import do_create_workflow_rule
from automation.models import AssignmentEntry, AssignmentJob, AssignmentRule
from crm import actions as crm_actions
from crm.models import Attachment, FieldDefinition, Note
from crm.modules import get_module, org_modules
from locking import actions as locking_actions
from locking.models import FieldLock, LockJob, LockRule
from teams import actions as team_actions
from teams import roles
from teams.models import TeamModule, TeamSpace
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

# Route prefixes the sweep does not request, and why. Keep this list short and explained.
SKIPPED = {
    "ops/admin/": "the operators' Django admin: staff-only (is_staff, Django's own checks), outside tenancy",
    # django-allauth's links from its e-mails (regex routes): a one-time key, no tenant object;
    # tests/access/test_allauth.py follows both.
    "accounts/^confirm-email/": "django-allauth's address-verification link (a one-time key from an e-mail)",
    "accounts/^password/reset/key/": "django-allauth's password-reset link (a one-time key from an e-mail)",
}

# Query strings a route needs to reach its object at all (see the control requests), or to show
# anything: the global search and the type-aheads search for a term inside every org A name that
# is not the marker itself (the search page repeats the term).
QUERY_STRINGS: dict[str, str] = {"crm:search": "?q=cmesecre", "crm:lookup": "?q=cmesecre",
                                 "crm:member_lookup": "?q=cmesecre"}

MARK = "acmesecret"  # in every name of org A: org B must never see it
HIDDEN = "acmesecrethidden"  # in the names of org A's objects the user of (b) may not see
TEAM = "team"  # the module kind of a team module record ("team-<id>")
STATUSES = [{"value": "open", "label_en": "Open"}, {"value": "doing", "label_en": "Doing"},
            {"value": "done", "label_en": "Done"}]
PASSWORD = "correct-horse-42"


# --- the routes ----------------------------------------------------------------------------

KWARG = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    pattern: str  # the full route, e.g. "m/<slug:module>/<int:pk>/"
    regex: str  # the full regular expression
    name: str  # namespaced, e.g. "crm:detail" ("" when unnamed)
    kwargs: tuple[str, ...]  # in URL order
    converters: tuple[str, ...]  # per kwarg, e.g. ("slug", "int"); "regex" for regex patterns
    buildable: bool  # every level is a path() route, so the sweep can write its URL

    @property
    def label(self) -> str:
        return f"{self.name or '(unnamed)'} /{self.pattern}"

    def before(self, kwarg: str) -> str:
        """The route up to the kwarg, e.g. "m/<slug:module>/" for pk of /m/<module>/<pk>/."""
        match = next(m for m in KWARG.finditer(self.pattern) if m["name"] == kwarg)
        return self.pattern[:match.start()]

    def url(self, kwargs: dict[str, Any]) -> str:
        return "/" + KWARG.sub(lambda m: str(kwargs[m["name"]]), self.pattern)


def _bare(regex: str) -> str:
    return re.sub(r"(\\Z|\$)$", "", regex.removeprefix("^"))


def walk(patterns: Any = None, prefix: str = "", regex: str = "", namespace: str = "",
         buildable: bool = True) -> Iterator[Route]:
    """Every URL pattern of the project, with its full route, regex, kwargs and namespaced name."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        full = regex + _bare(entry.pattern.regex.pattern)
        plain = buildable and isinstance(entry.pattern, RoutePattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, route, full, inner, plain)
            continue
        names = [name for name, _index in sorted(re.compile(full).groupindex.items(), key=lambda item: item[1])]
        converters = {m["name"]: m["converter"] or "str" for m in KWARG.finditer(route)} if plain else {}
        yield Route(route, full, f"{namespace}{entry.name}" if entry.name else "", tuple(names),
                    tuple(converters.get(name, "regex") for name in names), plain)


# --- the worlds: one org's objects, made through the actions ---------------------------------

@dataclass
class World:
    org: Organization
    records: dict[str, Any] = field(default_factory=dict)  # kind ("accounts", ..., TEAM) -> record
    notes: dict[str, Note] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    fields: dict[str, FieldDefinition] = field(default_factory=dict)
    files: dict[str, FieldDefinition] = field(default_factory=dict)  # a file field, holding a file on the record
    space: TeamSpace | None = None
    team_module: TeamModule | None = None
    deleted: Any = None  # a record in the recycle bin
    owner_membership: Membership | None = None  # the owner's membership (a settings/users/ object)
    # Sharing settings objects (administrators' pages): a profile, a role, a group, a sharing rule.
    profile: Profile | None = None
    role: OrgRole | None = None
    group: Group | None = None
    rule: SharingRule | None = None
    # Record locking settings: a lock rule, a field lock and an "apply to existing records" job.
    lock_rule: LockRule | None = None
    field_lock: FieldLock | None = None
    lock_job: LockJob | None = None
    validation_rule: Any = None  # automation's validation and layout rules of deals
    layout_rule: Any = None
    notification: Any = None  # the owner's notification about their account
    workflow_rule: Any = None  # a workflow rule of deals (automation settings)
    # Workflow rules' e-mail templates and webhook log (administrators' pages).
    email_template: Any = None
    webhook_delivery: Any = None
    assignment: tuple = (None, None, None)  # an assignment rule of deals, its entry and a queued job
    blueprint: Any = None  # a draft blueprint of deals and its transition (blueprint settings pages)
    transition: Any = None
    approval_process: Any = None  # an approval process of deals, and a deal awaiting approval by it
    approval_request: Any = None
    request: Any = None  # a request the owner submitted to the team module (the Requests tab's change page)
    export_job: Any = None  # the owner's export of accounts, written by a job (stays queued in a test)
    import_job: Any = None  # the owner's upload of a leads file, waiting for its mapping
    pool: Any = None  # a customer pool of leads, the owner its member (settings and pool list pages)

    def module_key(self, kind: str) -> str:
        return self.team_module.key if kind == TEAM else kind

    def hidden_objects(self) -> list[Any]:
        return [*self.records.values(), *self.notes.values(), *self.attachments.values(), self.space,
                self.team_module, self.fields[TEAM], self.deleted]


def kinds() -> list[str]:
    return [m.key for m in org_modules()] + [TEAM]


def _bound(membership: Membership) -> User:
    return bind_org(membership.user, membership.org, membership)


def build_world(org: Organization, prefix: str, *, owner: User, admin: User, children: bool,
                org_prefix: str = "") -> World:
    """A space managed by `owner`, a team module and a record of every module kind owned by
    `owner`; with `children`, notes, attachments, custom fields and a deleted record too."""
    world = World(org, owner_membership=owner.membership)
    world.space = team_actions.do_create_space(org, name_en=f"{prefix}-space", manager_ids=[owner.pk], actor=admin)
    roles.forget(owner)
    world.team_module = team_actions.do_create_team_module(world.space, name_en=f"{prefix}-module",
                                                           statuses=STATUSES, done_statuses=["done"], actor=owner)
    for kind in kinds():
        key = world.module_key(kind)
        title_field = get_module(key, org).title_field
        record = crm_actions.do_create_record(key, {title_field: f"{prefix}-{kind}-record"}, actor=owner)
        world.records[kind] = record
        if not children:
            continue
        world.notes[kind] = crm_actions.do_add_note(record, f"{prefix}-{kind}-note", actor=owner)
        world.attachments[kind] = crm_actions.do_add_attachment(
            record, SimpleUploadedFile(f"{prefix}-{kind}.txt", f"{prefix} file".encode()), actor=owner)
        # Org module fields are configured by administrators and shown to every member of the org
        # (so their labels carry `org_prefix`); team module fields by the manager.
        world.fields[kind] = crm_actions.do_create_field(
            org, key, api_name=f"sweep_{kind}", label_en=f"{prefix if kind == TEAM else org_prefix}-{kind}-field",
            field_type="text", actor=owner if kind == TEAM else admin)
        world.files[kind] = crm_actions.do_create_field(
            org, key, api_name=f"sweep_{kind}_file", label_en=f"{prefix if kind == TEAM else org_prefix}-{kind}-file",
            field_type="file", actor=owner if kind == TEAM else admin)
        world.records[kind] = crm_actions.do_update_record(
            record, {world.files[kind].key: SimpleUploadedFile(f"{prefix}-{kind}-field.txt", f"{prefix}".encode())},
            version=version_of(record), actor=owner)
    if children:
        deal = crm_actions.do_create_record("deals", {"name": f"{prefix}-deleted-deal"}, actor=owner)
        world.deleted = crm_actions.do_delete_record(deal, version=version_of(deal), actor=owner)
        world.notification = do_notify(
            org_id=org.pk, recipient_id=owner.pk, kind="owner_assigned", module="accounts",
            record_id=world.records["accounts"].pk, key=f"{prefix}-notification", actor_id=admin.pk,
            params={"record": f"{prefix}-notified-record"})
        # The owner may also request from the module, so the control reaches the request form.
        team_actions.do_set_requesters(world.team_module, [owner.pk], actor=owner)
        roles.forget(owner)
        world.request = team_actions.do_submit_request(world.team_module, {"title": f"{prefix}-request"}, actor=owner)
        add_sharing_settings(world, admin, f"{org_prefix}-settings")
        add_locking_settings(world, admin, f"{org_prefix}-settings")
        world.workflow_rule = do_create_workflow_rule(world.org, "deals", actor=admin, name=f"{org_prefix}-workflow",
                                                      trigger="edit", criteria=None,
                                                      actions=[{"type": "field_update", "field": "discount", "value": "1"}])
        add_rule_settings(world, admin, f"{org_prefix}-settings")
        add_workflow_action_settings(world, admin, f"{org_prefix}-settings")
        world.assignment = add_assignment_settings(world, admin, f"{org_prefix}-settings")
        add_blueprint_settings(world, admin, f"{org_prefix}-settings")
        add_approval_settings(world, owner, admin, prefix, f"{org_prefix}-settings")
        world.export_job = add_export_job(world, owner)
        world.import_job = add_import(world, owner, prefix)
        world.pool = add_pool(world, owner, admin, f"{org_prefix}-settings")
    return world


def add_pool(world: World, owner: User, admin: User, prefix: str) -> Any:
    """A leads pool the owner belongs to: its list is theirs and its settings the admin's."""
    from pool.actions import do_save_pool

    return do_save_pool(world.org, actor=admin, name=f"{prefix}-pool", module="leads", masked_fields=["phone"],
                        members={"users": [owner]})


def add_export_job(world: World, owner: User) -> Any:
    """An export of the owner's accounts list as a background job: its page and file are the
    owner's alone (the job stays queued in a test)."""
    from exports.actions import do_start_export_job

    schema = get_module("accounts", world.org).bind(world.org)
    return do_start_export_job(schema, fmt="csv", query={}, columns=[], language="en", actor=owner)


def add_import(world: World, owner: User, prefix: str) -> Any:
    """The owner's upload of a leads file (its name and first row carry the prefix)."""
    from imports.actions import do_upload_import

    content = f"Last name\n{prefix}-imported-lead\n".encode()
    return do_upload_import(get_module("leads", world.org), SimpleUploadedFile(f"{prefix}-import.csv", content),
                            actor=owner)


def add_blueprint_settings(world: World, admin: User, prefix: str) -> None:
    """A draft blueprint of deals with one transition (a draft governs no record)."""
    from blueprints import actions as blueprint_actions

    world.blueprint = blueprint_actions.do_create_blueprint(world.org, "deals", name=f"{prefix}-blueprint",
                                                            field="stage", actor=admin)
    world.transition = blueprint_actions.do_save_transition(
        world.blueprint, actor=admin, name=f"{prefix}-transition", from_states=["qualification"],
        to_state="proposal")


def add_approval_settings(world: World, owner: User, admin: User, prefix: str, settings_prefix: str) -> None:
    """An approval process of deals and one of the owner's deals awaiting approval by it."""
    from approvals.actions import do_save_approval_process, do_submit_for_approval

    world.approval_process = do_save_approval_process(
        world.org, "deals", name=f"{settings_prefix}-approval", levels=[{"rule": "any", "approvers": {"users": [admin.pk]}}],
        actor=admin)
    deal = crm_actions.do_create_record("deals", {"name": f"{prefix}-approval-deal"}, actor=owner)
    world.approval_request = do_submit_for_approval(deal, actor=owner, process=world.approval_process)


def add_workflow_action_settings(world: World, admin: User, prefix: str) -> None:
    """An org-wide e-mail template and a webhook delivery about the world's deal."""
    from automation.mail_actions import do_create_email_template
    from automation.webhook_actions import do_create_delivery

    world.email_template = do_create_email_template(
        {"name": f"{prefix}-template", "module": "", "subject": f"{prefix}-subject", "body": f"{prefix}-body"},
        actor=admin)
    world.webhook_delivery, _new = do_create_delivery(
        org_id=world.org.pk, key=f"{prefix}-delivery", delivery_id=f"{prefix}-delivery"[:32], rule_kind="workflow",
        rule_id=1, run_id=None, module="deals", record_id=world.records["deals"].pk,
        url=f"https://example.com/{prefix}-hook", body=f'{{"{prefix}": 1}}', signature="")


def add_sharing_settings(world: World, admin: User, prefix: str) -> None:
    standard = Profile.objects.get(org=world.org, name="Standard")
    world.profile = sharing_actions.do_clone_profile(standard, f"{prefix}-profile", actor=admin)
    world.role = sharing_actions.do_create_role(world.org, name=f"{prefix}-role", actor=admin)
    world.group = sharing_actions.do_create_group(world.org, name=f"{prefix}-group", actor=admin)
    world.rule = sharing_actions.do_create_sharing_rule(
        world.org, "deals", name=f"{prefix}-rule", target_kind="group", target_group=world.group,
        owner_kind="role", owner_role=world.role, actor=admin, known_modules=[m.key for m in org_modules()])


def add_locking_settings(world: World, admin: User, prefix: str) -> None:
    """Locking on for deals, with a rule nothing matches (so no record of the world is locked)."""
    locking_actions.do_save_lock_config(world.org, "deals", enabled=True, actor=admin)
    world.lock_rule = locking_actions.do_create_lock_rule(
        world.org, "deals", name=f"{prefix}-lock-rule", actor=admin,
        criteria={"all": [{"field": "name", "op": "eq", "value": f"{prefix}-nothing"}]})
    world.field_lock = locking_actions.do_save_field_lock(
        world.org, "deals", name=f"{prefix}-field-lock", fields=["amount"], locked_for="all", actor=admin)
    world.lock_job = locking_actions.do_start_apply_job(world.lock_rule, actor=admin)  # stays queued in a test


def add_rule_settings(world: World, admin: User, prefix: str) -> None:
    """A validation rule and a layout rule of deals that no record of the world matches."""
    from automation import rule_actions

    nothing = {"all": [{"field": "name", "op": "eq", "value": f"{prefix}-nothing"}]}
    world.validation_rule = rule_actions.do_create_validation_rule(
        world.org, "deals", name=f"{prefix}-validation-rule", criteria=nothing, message_en=f"{prefix}-message",
        actor=admin)
    world.layout_rule = rule_actions.do_create_layout_rule(
        world.org, "deals", name=f"{prefix}-layout-rule", criteria=nothing, require_fields=["amount"], actor=admin)
def add_assignment_settings(world: World, admin: User, prefix: str) -> tuple:
    """An inactive assignment rule of deals with one entry, and a job of it (it stays queued)."""
    from automation import assignment_actions

    rule = assignment_actions.do_create_assignment_rule(world.org, "deals", name=f"{prefix}-assignment-rule",
                                                        actor=admin)
    entry = assignment_actions.do_add_assignment_entry(rule, criteria=None, method="user", user_id=admin.pk,
                                                       actor=admin)
    job = assignment_actions.do_start_assignment_job(rule, trigger="selected", record_ids=[world.records["deals"].pk],
                                                     actor=admin)
    return rule, entry, job


@dataclass
class Scenario:
    a: World  # org A's objects, hidden from both requesters
    admin_a: User
    owner_a: User  # owns every object of `a`, manages its space
    sam: User  # a standard user of org A without access to anything of `a`
    sam_world: World  # Sam's own records and space (parents for the mixed URLs)
    admin_b: User
    b: World  # org B's own objects


@pytest.fixture
def scenario(make_user, other_org_user) -> Scenario:
    admin_a = _bound(do_sign_up(org_name="AcmeSecret Org", username="acmesecret-admin", email="a@acme.test",
                                password=PASSWORD, first_name="AcmeSecret", last_name="Admin"))
    org = admin_a.org
    # Private defaults everywhere, so a standard user who owns nothing sees nothing.
    for module in org_modules():
        do_set_org_default(org, module.key, "private", actor=admin_a)
    owner_a = make_user(org, username="acmesecret-owner")
    sam = make_user(org, username="sweep-sam")
    a = build_world(org, "AcmeSecretHidden", owner=owner_a, admin=admin_a, children=True, org_prefix="AcmeSecret")
    sam_world = build_world(org, "SweepSam", owner=sam, admin=admin_a, children=False)
    b = build_world(other_org_user.org, "GlobexOwn", owner=other_org_user, admin=other_org_user, children=False)
    for user in (admin_a, owner_a, sam, other_org_user):
        roles.forget(user)
    return Scenario(a, admin_a, owner_a, sam, sam_world, other_org_user, b)


# --- fillers: how to fill each URL kwarg from a world ----------------------------------------

class Unfillable(LookupError):
    pass


@dataclass(frozen=True)
class Filled:
    value: Any
    obj: Any = None  # the tenant object the value names; None for a tenant-neutral value


def _obj(obj: Any) -> Filled:
    if obj is None:
        raise Unfillable
    return Filled(obj.pk, obj)


def _field_key(definition: FieldDefinition) -> Filled:
    return Filled(definition.key, definition)


def fill_module(world: World, kind: str, route: Route) -> Filled:
    """Every module kind: an org module key (the same in every org: neutral) or "team-<id>"."""
    if kind == TEAM:
        return Filled(world.team_module.key, world.team_module)
    return Filled(kind)


# What a `pk` is, by the route before it. A new context fails until it is added here.
PK_CONTEXTS = {
    "m/<slug:module>/": "record",
    "reviews/m/<slug:module>/": "record",  # a record's review
    "settings/fields/<slug:module>/": "field",
    "teams/modules/<int:module_pk>/fields/": "field",
    "requests/<int:module_pk>/": "request",  # a requester's own request (the Requests tab)
}


def fill_pk(world: World, kind: str, route: Route) -> Filled:
    before = route.before("pk")
    what = next((what for prefix, what in PK_CONTEXTS.items() if before.startswith(prefix)), None)
    if what == "record":
        return _obj(world.records[kind])
    if what == "field":
        return _obj(world.fields[kind])
    if what == "request":
        return _obj(world.request if kind == TEAM else None)
    raise Unfillable


FILLERS: dict[str, Callable[[World, str, Route], Filled]] = {
    "module": fill_module,
    "pk": fill_pk,
    "note_pk": lambda world, kind, route: _obj(world.notes[kind]),
    "attachment_pk": lambda world, kind, route: _obj(world.attachments[kind]),
    "space_pk": lambda world, kind, route: _obj(world.space),
    "module_pk": lambda world, kind, route: _obj(world.team_module if kind == TEAM else None),
    "membership_pk": lambda world, kind, route: _obj(world.owner_membership),
    "profile_pk": lambda world, kind, route: _obj(world.profile),
    "role_pk": lambda world, kind, route: _obj(world.role),
    "group_pk": lambda world, kind, route: _obj(world.group),
    "rule_pk": lambda world, kind, route: _obj(world.rule),
    "lock_rule_pk": lambda world, kind, route: _obj(world.lock_rule),
    "field_lock_pk": lambda world, kind, route: _obj(world.field_lock),
    "job_pk": lambda world, kind, route: _obj(world.lock_job),
    "workflow_rule_pk": lambda world, kind, route: _obj(world.workflow_rule),
    "validation_rule_pk": lambda world, kind, route: _obj(world.validation_rule),
    "layout_rule_pk": lambda world, kind, route: _obj(world.layout_rule),
    "template_pk": lambda world, kind, route: _obj(world.email_template),
    "delivery_pk": lambda world, kind, route: _obj(world.webhook_delivery),
    "assignment_rule_pk": lambda world, kind, route: _obj(world.assignment[0]),
    "approval_process_pk": lambda world, kind, route: _obj(world.approval_process),
    "approval_request_pk": lambda world, kind, route: _obj(world.approval_request),
    "assignment_entry_pk": lambda world, kind, route: _obj(world.assignment[1]),
    "assignment_job_pk": lambda world, kind, route: _obj(world.assignment[2]),
    "blueprint_pk": lambda world, kind, route: _obj(world.blueprint),
    "transition_pk": lambda world, kind, route: _obj(world.transition),
    "import_pk": lambda world, kind, route: _obj(world.import_job),
    "export_pk": lambda world, kind, route: _obj(world.export_job),
    "pool_pk": lambda world, kind, route: _obj(world.pool),
    # A field of the module (inline edit): its title field, a key that is the same in every org; for
    # a file field's download, the world's file field.
    "field_key": lambda world, kind, route: (
        _field_key(world.files[kind]) if route.name == "crm:field_file"
        else Filled(get_module(world.module_key(kind), world.org).title_field)),
}


def fill(route: Route, kind: str, world_for: list[World]) -> dict[str, Filled]:
    """kwarg -> Filled, the i-th kwarg from world_for[i]; raises Unfillable (or KeyError)."""
    filled = {}
    for name, world in zip(route.kwargs, world_for):
        if name not in FILLERS:
            raise Unfillable(name)
        try:
            filled[name] = FILLERS[name](world, kind, route)
        except (KeyError, AttributeError) as exc:
            raise Unfillable(name) from exc
    return filled


@dataclass
class Case:
    route: Route
    kind: str
    url: str
    objects: list[Any]  # tenant objects named in the URL
    main: bool  # every kwarg from org A (False: the requester's own parents, A's child)
    missing_url: str = ""  # the same URL with org A's ids replaced by ids that exist nowhere


MISSING_ID = 999_999_999


def _missing(name: str, filled: Filled) -> Any:
    if filled.obj is None:
        return filled.value
    return f"team-{MISSING_ID}" if name == "module" else MISSING_ID


def cases_for(route: Route, a: World, own: World) -> list[Case]:
    """The object cases of a route for one requester; [] when the route names no tenant object."""
    found: dict[str, Case] = {}
    n = len(route.kwargs)
    for kind in (kinds() if "module" in route.kwargs else [TEAM]):
        main = fill(route, kind, [a] * n)
        if not any(f.obj is not None for f in main.values()):
            continue  # neutral: handled with the routes without kwargs
        found.setdefault(route.url({k: f.value for k, f in main.items()}),
                         Case(route, kind, "", [f.obj for f in main.values() if f.obj is not None], True,
                              route.url({k: _missing(k, f) for k, f in main.items()})))
        for split in range(1, n):
            try:
                mixed = fill(route, kind, [own] * split + [a] * (n - split))
            except Unfillable:
                continue
            values = list(mixed.values())
            if any(f.obj is not None for f in values[:split]) and any(f.obj is not None for f in values[split:]):
                twin = {k: f.value if i < split else _missing(k, f) for i, (k, f) in enumerate(mixed.items())}
                found.setdefault(route.url({k: f.value for k, f in mixed.items()}),
                                 Case(route, kind, "", [f.obj for f in values if f.obj is not None], False,
                                      route.url(twin)))
    for url, case in found.items():
        case.url = url + QUERY_STRINGS.get(route.name, "")
        case.missing_url += QUERY_STRINGS.get(route.name, "")
    return list(found.values())


def neutral_urls(route: Route, a: World) -> list[str]:
    """URLs of a route whose kwargs name no tenant object (no kwargs, or an org module key)."""
    if not route.kwargs:
        return [route.url({}) + QUERY_STRINGS.get(route.name, "")]
    urls = []
    for kind in (kinds() if "module" in route.kwargs else [TEAM]):
        filled = fill(route, kind, [a] * len(route.kwargs))
        if all(f.obj is None for f in filled.values()):
            urls.append(route.url({k: f.value for k, f in filled.items()}) + QUERY_STRINGS.get(route.name, ""))
    return urls


# --- what a user may see -------------------------------------------------------------------------

def visible_to(user: User, obj: Any) -> bool:
    if obj.org_id != user.org.pk:
        return False
    if isinstance(obj, Membership):  # members' names are shown to the whole org (owner pickers)
        return True
    if isinstance(obj, (Profile, OrgRole, Group, SharingRule, LockRule, FieldLock, LockJob, WorkflowRule,
                        AssignmentRule, AssignmentEntry, AssignmentJob)):
        return True  # org configuration, named on record pages (a lock badge names its rule)
    if type(obj).__name__ == "ApprovalProcess":
        return True  # org configuration, named on record pages (the approval panel names its process)
    if type(obj).__name__ == "ApprovalRequest":  # seen by whoever sees its record
        return visible_to(user, get_module(obj.module, user.org).model.objects.get(pk=obj.record_id))
    if type(obj).__name__ in ("ValidationRule", "LayoutRule"):
        return True  # org configuration, whose messages every member editing a record may see
    if isinstance(obj, (EmailTemplate, WebhookDelivery)):  # on the automation settings pages only
        return False
    if type(obj).__name__ in ("Blueprint", "Transition"):  # blueprint settings pages only
        return False
    if type(obj).__name__ == "ExportJob":  # its page and file are the owner's alone
        return obj.user_id == user.pk
    if type(obj).__name__ == "Pool":  # its members', its administrators' and the org administrators'
        from pool.selectors import pools_for

        return obj.pk in {p.pk for p in pools_for(user)}
    if type(obj).__name__ == "ImportJob":  # its uploader's and the administrators'
        return obj.created_by_id == user.pk or user.membership.is_admin
    if isinstance(obj, (Note, Attachment)):
        return visible_to(user, obj.record)
    if isinstance(obj, TeamSpace):
        return roles.role_in(user, obj.pk) is not None or roles.is_team_modules_admin(user)
    if isinstance(obj, TeamModule):
        return visible_to(user, obj.space) or obj.pk in roles.requested_modules(user)
    if isinstance(obj, FieldDefinition):  # org module fields are shown to every member
        return not obj.module.startswith("team-") or visible_to(user, TeamModule.objects.get(
            org=obj.org_id, pk=int(obj.module.removeprefix("team-"))))
    return visible(user, get_module(obj.MODULE_KEY, user.org), "view", deleted=obj.deleted_at is not None).filter(
        pk=obj.pk).exists()


# --- requests ------------------------------------------------------------------------------------

class Requester:
    """A logged-in client that stays logged in (the sweep also POSTs to logout/)."""

    def __init__(self, user: User, label: str, marker: str) -> None:
        self.user, self.label, self.marker = user, label, marker
        self.client = Client(raise_request_exception=False)
        self.client.force_login(user)
        self.count = 0

    def request(self, method: str, url: str, data: dict | None = None):
        self.count += 1
        response = self.client.get(url) if method == "GET" else self.client.post(url, data or {})
        cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
        if cookie is not None and not cookie.value:  # the session was flushed (logout/): log in again
            self.client.force_login(self.user)
        return response


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def marker_context(text: str, marker: str) -> str:
    """The words around the first org A name in a page, for the report."""
    index = text.lower().find(marker)
    return "" if index < 0 else " ".join(text[max(index - 60, 0):index + 60].split())


def describe(response) -> str:
    text = str(response.status_code)
    if response.get("Location"):
        text += f" -> {response['Location']}"
    if getattr(response, "exc_info", None):
        text += f" raised {response.exc_info[1]!r}"
    return text


def post_body(user: User, a: World, **extra: Any) -> dict[str, Any]:
    """A harmless body, carrying org A's ids wherever a view might read one from the form."""
    account = a.records["accounts"]
    return {
        "title": "x", "name": "x", "name_en": "x", "body": "x", "last_name": "x", "subject": "x",
        "label_en": "x", "api_name": "sweep_probe", "field_type": "text", "owner": user.pk, "version": "1",
        "status": "open", "value": "done", "account": account.pk, "ids": [account.pk], "module": "deals",
        "pk": a.deleted.pk, "field": a.fields["accounts"].pk, "membership": a.owner_membership.pk,
        "user": a.owner_membership.user_id, "users": [a.owner_membership.user_id], "assignee": user.pk,
        "org": a.org.pk, "role": "admin", "id": a.notification.pk,
        "file": SimpleUploadedFile("probe.txt", b"probe"), **extra,
    }


# Ops the settings pages read from a POST; each neutral route is also POSTed with each.
OPS = ("public", "retire", "deactivate", "role")


# --- the database, before and after ------------------------------------------------------------

def _org_field(model: Any) -> Any:
    try:
        org_field = model._meta.get_field("org")
    except FieldDoesNotExist:
        return None
    return org_field if org_field.is_relation and org_field.related_model is Organization else None


def tenant_models() -> list[Any]:
    return [model for model in apps.get_models() if _org_field(model) is not None]


def snapshot(org: Organization) -> dict[str, dict[Any, dict]]:
    """Every tenant row of the org (records, notes, attachments, timeline, fields, spaces, team
    members, modules, memberships, defaults...), its users and its attachments' files."""
    data = {model._meta.label: {row["id"]: row for row in model._base_manager.filter(org=org).values()}
            for model in tenant_models()}
    user_fields = [f.attname for f in User._meta.concrete_fields if f.name != "last_login"]  # force_login sets it
    data["users"] = {row["id"]: row for row in User.objects.filter(memberships__org=org).values(*user_fields)}
    data["org"] = {row["id"]: row for row in Organization.objects.filter(pk=org.pk).values()}
    data["files"] = {a.pk: {"name": a.file.name, "exists": a.file.storage.exists(a.file.name)}
                     for a in Attachment.objects.filter(org=org)}
    return data


def snapshot_diff(before: dict, after: dict) -> list[str]:
    lines = []
    for label in sorted(before):
        old, new = before[label], after.get(label, {})
        for pk in sorted(set(old) | set(new), key=str):
            if pk not in new:
                lines.append(f"{label} #{pk} removed: {old[pk]}")
            elif pk not in old:
                lines.append(f"{label} #{pk} added: {new[pk]}")
            elif old[pk] != new[pk]:
                changed = {k: (old[pk][k], new[pk].get(k)) for k in old[pk] if old[pk][k] != new[pk].get(k)}
                lines.append(f"{label} #{pk} changed: {changed}")
    return lines


def cross_org_references() -> list[str]:
    """Rows pointing at another org's rows or users (a foreign key, or a <name>_type/<name>_id pair)."""
    problems = []
    for model in tenant_models():
        manager = model._base_manager
        concrete = {f.name: f for f in model._meta.concrete_fields}
        for f in concrete.values():
            if not f.is_relation or f.name == "org" or f.related_model is None:
                continue
            if _org_field(f.related_model) is not None:
                bad = manager.filter(**{f"{f.name}__isnull": False}).exclude(**{f"{f.name}__org": F("org")})
            elif f.related_model is User:
                member = Membership.objects.filter(org=OuterRef("org"), user=OuterRef(f.attname))
                bad = manager.filter(**{f"{f.name}__isnull": False}).exclude(Exists(member))
            else:
                continue
            for pk in bad.values_list("pk", flat=True)[:5]:
                problems.append(f"{model._meta.label} #{pk}: {f.name} is in another org")
        for name, f in concrete.items():  # generic references: <x>_type + <x>_id
            if not (name.endswith("_type") and f.is_relation and f.related_model is ContentType):
                continue
            id_name = name.removesuffix("_type") + "_id"
            if id_name not in concrete:
                continue
            for type_id, target_id, org_id, pk in manager.filter(**{f"{name}__isnull": False}).values_list(
                    f.attname, id_name, "org_id", "pk"):
                target_model = ContentType.objects.get_for_id(type_id).model_class()
                if target_model is None or _org_field(target_model) is None or target_id is None:
                    continue
                target_org = target_model._base_manager.filter(pk=target_id).values_list("org_id", flat=True).first()
                if target_org is not None and target_org != org_id:
                    problems.append(f"{model._meta.label} #{pk}: {name[:-5]} points at org {target_org}")
    return problems


# --- the sweep ---------------------------------------------------------------------------------

# The routes are swept in a few shards (every third route each), so that parallel test workers
# share the sweep instead of one of them waiting on it.
SHARDS = 3


@pytest.mark.parametrize("shard", range(SHARDS))
def test_isolation_sweep(shard: int, scenario: Scenario, capsys: pytest.CaptureFixture,
                         caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    # Hundreds of expected 404/405 warnings cost more than the requests; errors are still logged.
    caplog.set_level(logging.ERROR, logger="django.request")
    s = scenario
    a = s.a

    # Preconditions: the requesters really have no access to org A's hidden objects.
    for obj in a.hidden_objects():
        assert not visible_to(s.sam, obj), f"scenario: Sam can see {obj!r}"
        assert not visible_to(s.admin_b, obj)
        assert visible_to(s.admin_a, obj)

    all_routes = list(walk())
    routes = [r for r in all_routes if not any(r.pattern.startswith(prefix) for prefix in SKIPPED)]
    skipped = [r for r in all_routes if r not in routes]
    assert routes, "the resolver yielded no routes"
    routes = routes[shard::SHARDS]

    org_b = Requester(s.admin_b, "org B admin", MARK)
    sam = Requester(s.sam, "org A standard user without access", HIDDEN)
    controls = [Requester(s.admin_a, "org A admin (control)", ""), Requester(s.owner_a, "owner (control)", "")]
    own_world = {org_b: s.b, sam: s.sam_world}

    before = snapshot(a.org)
    failures: list[str] = []
    untaught: list[str] = []
    summary: list[str] = []
    statuses: dict[str, Counter] = defaultdict(Counter)

    def check(requester: Requester, method: str, url: str, route: Route, response, what: str,
              allowed: set[int] | None = None, case: Case | None = None) -> None:
        """allowed: the statuses a main case may answer (None: any). A mixed case (own parents, A's
        child) must answer as it does for a child id that exists nowhere, and never succeed."""
        status = response.status_code
        statuses[requester.label][status] += 1
        problems = []
        text = body_of(response)
        twin = None
        if case is not None and status != 404:
            twin = requester.request(method, case.missing_url, post_body(requester.user, a)).status_code
        if status >= 500:
            problems.append("server error")
        elif allowed is not None and status not in allowed:
            problems.append(f"expected {'/'.join(map(str, sorted(allowed)))}")
        elif case is not None and not case.main and status != 404 and (status < 400 or status != twin):
            problems.append("expected the answer for a missing id")
        if problems and twin is not None:
            problems.append(f"an id that exists nowhere gets {twin}")
        if requester.marker and requester.marker in text.lower():
            problems.append(f"org A names in the page: …{marker_context(text, requester.marker)}…")
        if problems:
            failures.append(f"{route.label} [{what}] {method} {url} as {requester.label}: "
                            f"{describe(response)} ({'; '.join(problems)})")

    for route in routes:
        if not route.buildable:
            untaught.append(f"teach the sweep how to build URLs for the regex route {route.label}")
            continue
        if any(name not in FILLERS for name in route.kwargs):
            for name in route.kwargs:
                if name not in FILLERS:
                    untaught.append(f"teach the sweep how to fill {name} for {route.label}")
            continue
        try:
            per_requester = {requester: cases_for(route, a, own_world[requester]) for requester in (org_b, sam)}
            neutral = neutral_urls(route, a)
        except Unfillable as exc:
            untaught.append(f"teach the sweep how to fill {exc.args[0] if exc.args else '?'} for {route.label}")
            continue
        object_urls = set()
        for requester, cases in per_requester.items():
            for case in cases:
                object_urls.add(case.url)
                try:
                    match = resolve(case.url.split("?")[0])
                    if match.route != route.pattern:
                        failures.append(f"{route.label}: {case.url} resolves to /{match.route} instead")
                        continue
                except Resolver404:
                    failures.append(f"{route.label}: the sweep's URL {case.url} does not resolve")
                    continue
                seen_all = all(visible_to(requester.user, obj) for obj in case.objects)
                allowed = {404, 403} if seen_all else {404}
                what = f"{case.kind}, {'A' if case.main else 'own parent + A child'}"
                for method in ("GET", "POST"):
                    response = requester.request(method, case.url, post_body(requester.user, a))
                    check(requester, method, case.url, route, response, what,
                          allowed if case.main else None, case)
        # Controls: someone with access reaches each main URL, so its 404s above mean something.
        for url in sorted({c.url for cases in per_requester.values() for c in cases if c.main}):
            responses = []
            for control in controls:
                response = control.request("GET", url)
                responses.append(response)
                if response.status_code >= 500:
                    failures.append(f"{route.label} GET {url} as {control.label}: {describe(response)}")
                if response.status_code != 404:
                    break
            if all(r.status_code == 404 for r in responses):
                untaught.append(f"{route.label}: GET {url} is 404 even for org A's admin and the owner; teach the "
                                f"sweep how to reach it (QUERY_STRINGS / FILLERS), else its 404s prove nothing")
        for index, url in enumerate(neutral):  # the ops once per route, not once per module kind
            for data in [post_body(s.admin_b, a)] + [post_body(s.admin_b, a, op=op) for op in OPS if not index]:
                check(org_b, "POST", url, route, org_b.request("POST", url, data), f"neutral, op={data.get('op')}")
            check(org_b, "GET", url, route, org_b.request("GET", url), "neutral")
            check(sam, "GET", url, route, sam.request("GET", url), "neutral")
        summary.append(f"  {route.label:<70} kwargs={','.join(route.kwargs) or '-':<26} "
                       f"object URLs={len(object_urls):>3} neutral URLs={len(neutral):>2}")

    after = snapshot(a.org)
    changed = snapshot_diff(before, after)
    crossing = cross_org_references()
    for obj in a.hidden_objects():  # titles, owners, deletion: spelled out, on top of the snapshot
        fresh = type(obj)._base_manager.filter(pk=obj.pk).first()
        assert fresh is not None, f"{obj!r} was deleted"
        assert str(fresh) == str(obj), f"{obj!r} was renamed to {fresh}"

    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nisolation sweep, shard {shard + 1}/{SHARDS}: {len(routes)} routes swept, {len(skipped)} skipped "
              f"({', '.join(f'{p} ({why})' for p, why in SKIPPED.items())}), "
              f"{sum(r.count for r in (org_b, sam, *controls))} requests in {elapsed:.1f} s")
        print("\n".join(summary))
        for label, counter in statuses.items():
            print(f"  answers to {label}: {dict(sorted(counter.items()))}")
        print(f"  {len(failures)} failures, {len(untaught)} routes to teach, {len(changed)} org A rows changed, "
              f"{len(crossing)} cross-org references")

    problems = ([f"UNTAUGHT: {line}" for line in untaught] + [f"LEAK: {line}" for line in failures]
                + [f"CHANGED IN ORG A: {line}" for line in changed]
                + [f"CROSS-ORG: {line}" for line in crossing])
    if problems:
        pytest.fail(f"{len(problems)} isolation problems:\n" + "\n".join(problems), pytrace=False)


def test_the_sweep_sees_every_app_route_and_fails_untaught_kwargs() -> None:
    """The walk finds nested, namespaced routes with their converters; an unknown kwarg is untaught."""
    routes = {r.name: r for r in walk()}
    detail = routes["crm:detail"]
    assert (detail.pattern, detail.kwargs, detail.converters) == ("m/<slug:module>/<int:pk>/", ("module", "pk"),
                                                                  ("slug", "int"))
    assert routes["teams:dashboard"].kwargs == ("space_pk",)
    assert any(r.pattern.startswith("ops/admin/") for r in routes.values())
    made_up = Route("m/<slug:module>/widgets/<int:widget_pk>/", "", "crm:widget", ("module", "widget_pk"),
                    ("slug", "int"), True)
    with pytest.raises(Unfillable):
        fill(made_up, "accounts", [World(Organization())] * 2)
    odd_pk = Route("teams/<int:space_pk>/things/<int:pk>/", "", "teams:thing", ("space_pk", "pk"),
                   ("int", "int"), True)
    with pytest.raises(Unfillable):
        fill(odd_pk, TEAM, [World(Organization(), space=TeamSpace(pk=1))] * 2)
