"""The module registry: org modules are declared here; team modules register theirs."""
from __future__ import annotations

from typing import Callable

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from .models import Account, Contact, Deal, Lead, Task
from .schema import OWNER_FIELD, Choice, FieldSpec, ModuleSchema


def choices(*pairs: tuple[str, str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(value, label_en, label_zh) for value, label_en, label_zh in pairs)


INDUSTRIES = choices(
    ("technology", "Technology", "科技"), ("manufacturing", "Manufacturing", "制造"),
    ("finance", "Finance", "金融"), ("healthcare", "Healthcare", "医疗"), ("retail", "Retail", "零售"),
    ("education", "Education", "教育"), ("other", "Other", "其他"),
)
LEAD_STATUSES = choices(
    ("new", "New", "新建"), ("contacted", "Contacted", "已联系"), ("qualified", "Qualified", "已确认"),
    ("unqualified", "Unqualified", "不合格"),
)
LEAD_SOURCES = choices(
    ("web", "Web", "网站"), ("referral", "Referral", "推荐"), ("event", "Event", "活动"),
    ("cold_call", "Cold call", "陌生电话"), ("advertisement", "Advertisement", "广告"),
)
DEAL_STAGES = choices(
    ("qualification", "Qualification", "资格审查"), ("proposal", "Proposal", "方案"),
    ("negotiation", "Negotiation", "谈判"), ("won", "Closed won", "赢单"), ("lost", "Closed lost", "输单"),
)
TASK_STATUSES = choices(
    ("not_started", "Not started", "未开始"), ("in_progress", "In progress", "进行中"),
    ("completed", "Completed", "已完成"), ("deferred", "Deferred", "已推迟"),
)

ORG_MODULES: dict[str, ModuleSchema] = {}


def register(schema: ModuleSchema) -> ModuleSchema:
    ORG_MODULES[schema.key] = schema
    return schema


register(ModuleSchema(
    key="accounts", model=Account, label_en=_("Account"), label_plural_en=_("Accounts"), icon="building",
    title_field="name", order=10, default_access="public_read_write",
    related=(("contacts", "account"), ("deals", "account")),
    core_fields=(
        FieldSpec("name", _("Account name"), "text", required=True, in_list=True, searchable=True),
        FieldSpec("industry", _("Industry"), "picklist", options=INDUSTRIES, in_list=True),
        FieldSpec("employees", _("Employees"), "integer", in_list=True),
        FieldSpec("website", _("Website"), "url"),
        FieldSpec("phone", _("Phone"), "phone", in_list=True, searchable=True),
        FieldSpec("city", _("City"), "text", in_list=True),
        FieldSpec("country", _("Country"), "text"),
        FieldSpec("description", _("Description"), "long_text"),
        OWNER_FIELD,
    ),
))
register(ModuleSchema(
    key="contacts", model=Contact, label_en=_("Contact"), label_plural_en=_("Contacts"), icon="person-vcard",
    title_field="last_name", order=20, default_access="public_read_write", select_related=("owner", "account"),
    core_fields=(
        FieldSpec("first_name", _("First name"), "text", in_list=True, searchable=True),
        FieldSpec("last_name", _("Last name"), "text", required=True, in_list=True, searchable=True),
        FieldSpec("account", _("Account"), "lookup", target="accounts", in_list=True),
        FieldSpec("title", _("Title"), "text"),
        FieldSpec("email", _("Email"), "email", in_list=True, searchable=True),
        FieldSpec("phone", _("Phone"), "phone", in_list=True, searchable=True),
        OWNER_FIELD,
    ),
))
register(ModuleSchema(
    key="leads", model=Lead, label_en=_("Lead"), label_plural_en=_("Leads"), icon="person-plus",
    title_field="last_name", order=30, default_access="private",
    core_fields=(
        FieldSpec("first_name", _("First name"), "text", in_list=True, searchable=True),
        FieldSpec("last_name", _("Last name"), "text", required=True, in_list=True, searchable=True),
        FieldSpec("company", _("Company"), "text", in_list=True, searchable=True),
        FieldSpec("email", _("Email"), "email", in_list=True, searchable=True),
        FieldSpec("phone", _("Phone"), "phone", searchable=True),
        FieldSpec("status", _("Status"), "picklist", options=LEAD_STATUSES, required=True, default="new",
                  in_list=True),
        FieldSpec("source", _("Source"), "picklist", options=LEAD_SOURCES, in_list=True),
        OWNER_FIELD,
    ),
))
register(ModuleSchema(
    key="deals", model=Deal, label_en=_("Deal"), label_plural_en=_("Deals"), icon="currency-dollar",
    title_field="name", order=40, default_access="private", select_related=("owner", "account"),
    core_fields=(
        FieldSpec("name", _("Deal name"), "text", required=True, in_list=True, searchable=True),
        FieldSpec("account", _("Account"), "lookup", target="accounts", in_list=True),
        FieldSpec("stage", _("Stage"), "picklist", options=DEAL_STAGES, required=True, default="qualification",
                  in_list=True),
        FieldSpec("amount", _("Amount"), "currency", in_list=True),
        FieldSpec("discount", _("Discount %"), "percent"),
        FieldSpec("close_date", _("Close date"), "date", in_list=True),
        OWNER_FIELD,
    ),
))
register(ModuleSchema(
    key="tasks", model=Task, label_en=_("Task"), label_plural_en=_("Tasks"), icon="check2-square",
    title_field="subject", order=50, default_access="private", access_user_fields=("owner", "assignee"),
    select_related=("owner", "assignee"),
    core_fields=(
        FieldSpec("subject", _("Subject"), "text", required=True, in_list=True, searchable=True),
        FieldSpec("due_date", _("Due date"), "date", in_list=True),
        FieldSpec("status", _("Status"), "picklist", options=TASK_STATUSES, required=True, default="not_started",
                  in_list=True),
        FieldSpec("assignee", _("Assignee"), "user", in_list=True),
        OWNER_FIELD,
    ),
))

# Other apps (teams) add module resolvers for keys they own, e.g. "team-12".
_resolvers: list[Callable[[str, object], ModuleSchema | None]] = []


def register_resolver(resolver: Callable[[str, object], ModuleSchema | None]) -> None:
    _resolvers.append(resolver)


# Other apps add blocks to a record's page, e.g. the team records that look an account up.
_related_providers: list[Callable] = []


def register_related_provider(provider: Callable) -> None:
    """provider(user, schema, record) -> list of {"module", "rows", "field"} blocks for the detail page."""
    if provider not in _related_providers:
        _related_providers.append(provider)


def related_blocks(user, schema, record) -> list[dict]:
    blocks: list[dict] = []
    for provider in _related_providers:
        blocks.extend(provider(user, schema, record))
    return blocks


# ... and panels beside a record's fields, e.g. the public fields of the accounts it looks up.
_panel_providers: list[Callable] = []


def register_panel_provider(provider: Callable) -> None:
    """provider(user, schema, record) -> list of {"template": name, ...context} for the detail page."""
    if provider not in _panel_providers:
        _panel_providers.append(provider)


def detail_panels(user, schema, record) -> list[dict]:
    panels: list[dict] = []
    for provider in _panel_providers:
        panels.extend(provider(user, schema, record))
    return panels


# ... and panels under a record's title (e.g. the lock badges and buttons). What a user may do
# there is not theirs to say: that is the decision point's (`access.decide`).
_header_panel_providers: list[Callable] = []


def register_header_panel_provider(provider: Callable) -> None:
    """provider(user, schema, record) -> list of {"template": name, ...context}, at a cost that
    does not grow with the fields."""
    if provider not in _header_panel_providers:
        _header_panel_providers.append(provider)


def header_panels(user, schema, record) -> list[dict]:
    panels: list[dict] = []
    for provider in _header_panel_providers:
        panels.extend(provider(user, schema, record))
    return panels


# ... and marks on kanban cards (e.g. a lock icon), computed for a whole column at once.
_card_mark_providers: list[Callable] = []


def register_card_mark_provider(provider: Callable) -> None:
    """provider(user, schema, records) -> {record pk: [{"icon": bootstrap icon, "title": text}]}; it must
    cost a fixed number of queries however many records it is given."""
    if provider not in _card_mark_providers:
        _card_mark_providers.append(provider)


def card_marks(user, schema, records) -> dict[int, list[dict]]:
    marks: dict[int, list[dict]] = {}
    for provider in _card_mark_providers:
        for pk, found in (provider(user, schema, records) or {}).items():
            marks.setdefault(pk, []).extend(found)
    return marks


# ... and marks on a list's rows (e.g. an overdue alarm), computed for the whole page at once.
_row_mark_providers: list[Callable] = []


def register_row_mark_provider(provider: Callable) -> None:
    """provider(user, schema, records) -> {record pk: [{"icon": bootstrap icon, "title": text}]}; a fixed
    number of queries however many rows the page shows."""
    if provider not in _row_mark_providers:
        _row_mark_providers.append(provider)


def row_marks(user, schema, records) -> dict[int, list[dict]]:
    marks: dict[int, list[dict]] = {}
    for provider in _row_mark_providers:
        for pk, found in (provider(user, schema, records) or {}).items():
            marks.setdefault(pk, []).extend(found)
    return marks


# ... and links from a module's settings pages to what other apps configure for that module (e.g.
# its record locking), so crm's templates name no other app's URL.
_module_link_providers: list[Callable] = []


def register_module_link_provider(provider: Callable) -> None:
    """provider(user, module) -> list of {"label": text, "url": url, "icon": bootstrap icon name}."""
    if provider not in _module_link_providers:
        _module_link_providers.append(provider)


def module_links(user, module) -> list[dict]:
    links: list[dict] = []
    for provider in _module_link_providers:
        links.extend(provider(user, module) or [])
    return links


# ... and actions a list page offers on its chosen records or on its whole filtered list (e.g.
# "assign by rule"), beside "Change owner", so crm's list template names no other app's URL.
_list_action_providers: list[Callable] = []


def register_list_action_provider(provider: Callable) -> None:
    """provider(user, schema) -> list of {"label": text, "title": longer text (optional), "url": url,
    "icon": bootstrap icon name, "scope": "selected" (posted with the chosen rows' "ids") or "list"
    (opened with the page's query)}."""
    if provider not in _list_action_providers:
        _list_action_providers.append(provider)


def list_actions(user, schema) -> list[dict]:
    found: list[dict] = []
    for provider in _list_action_providers:
        found.extend(provider(user, schema) or [])
    return found


# ... and where a list page's export form posts (the exports app), so crm's list template names
# no other app's URL.
_export_url_providers: list[Callable] = []


def register_export_url_provider(provider: Callable) -> None:
    """provider(schema) -> the URL a list's "Export CSV / Export XLSX" form posts to, or ""."""
    if provider not in _export_url_providers:
        _export_url_providers.append(provider)


def export_url(schema) -> str:
    return next((url for url in (provider(schema) for provider in _export_url_providers) if url), "")


def get_module(key: str, org=None) -> ModuleSchema:
    """The schema for a module key, or 404 (unknown keys look like missing pages)."""
    if key in ORG_MODULES:
        return ORG_MODULES[key]
    for resolver in _resolvers:
        schema = resolver(key, org)
        if schema is not None:
            return schema
    raise Http404


def module_for_model(model) -> ModuleSchema | None:
    for schema in ORG_MODULES.values():
        if schema.model is model:
            return schema
    return None


def org_modules() -> list[ModuleSchema]:
    return sorted(ORG_MODULES.values(), key=lambda m: m.order)


# Other apps (teams) list the modules they define for an org, and the models their records live
# in, so org-wide pages (the recycle bin) and the purge cover them too.
_module_listers: list[Callable[[object], list[ModuleSchema]]] = []
_record_models: list[type] = []


def register_module_lister(lister: Callable[[object], list[ModuleSchema]]) -> None:
    if lister not in _module_listers:
        _module_listers.append(lister)


def register_record_model(model: type) -> None:
    if model not in _record_models:
        _record_models.append(model)


def all_modules(org) -> list[ModuleSchema]:
    """The org modules, then the modules other apps define for `org` (team modules)."""
    return org_modules() + [module for lister in _module_listers for module in lister(org)]


def record_models() -> list[type]:
    """Every model records live in: the org modules' and the registered ones (TeamRecord)."""
    return [module.model for module in org_modules()] + [m for m in _record_models
                                                         if m not in {o.model for o in org_modules()}]
