"""THE visibility function: every read of records goes through here.

`visible(user, module, action)` returns the module's queryset filtered to what the
user may do. It compiles to one SQL predicate; it never loops over rows in Python.
Apps above `access` (crm, teams) extend the predicate by registering providers, so
`access` imports none of them and there is still one door.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Case, F, IntegerField, Lookup, Q, QuerySet, Subquery, Value, When
from django.http import Http404
from django.utils.translation import gettext as _

from . import generations
from .masking import masked_queryset, masks_for
from .models import Membership, Organization, OrgWideDefault, User

ACTIONS = ("view", "edit", "delete", "export")


class ModuleLike(Protocol):
    """What `access` needs to know of a module (crm.schema.ModuleSchema satisfies it)."""

    key: str
    model: Any
    access_user_fields: tuple[str, ...]
    default_access: str

    def base_queryset(self, org: Organization) -> QuerySet: ...


# A provider returns a Q to OR into the predicate (extra grants), or None.
GrantProvider = Callable[[User, Membership, ModuleLike, str], Q | None]
_grant_providers: list[GrantProvider] = []


def register_grant_provider(provider: GrantProvider) -> None:
    if provider not in _grant_providers:
        _grant_providers.append(provider)


# A list filter returns a Q that rows must match to be listed (None: no objection). Lists, boards,
# exports and searches read `visible(...)` as it is; one record's page (`get_record`), `can` and the
# actions pass `listing=False`, so a record a filter keeps out of lists (one under review) still
# opens for those the predicate lets see it.
ListFilter = Callable[[User, ModuleLike, str], Q | None]
_list_filters: list[ListFilter] = []


def register_list_filter(list_filter: ListFilter) -> None:
    if list_filter not in _list_filters:
        _list_filters.append(list_filter)


def unregister_list_filter(list_filter: ListFilter) -> None:
    if list_filter in _list_filters:
        _list_filters.remove(list_filter)


def bind_org(user: User, org: Organization, membership: Membership | None = None) -> User:
    """Attach the acting org to a user object (done by middleware for requests; by tasks for jobs)."""
    if membership is None:
        membership = Membership.objects.select_related("profile", "org_role").filter(org=org, user=user).first()
    user.org = org
    user.membership = membership
    user.__dict__.pop("_predicates", None)
    user.__dict__.pop("_access_memo", None)
    return user


def current_membership(user: User) -> Membership | None:
    membership = getattr(user, "membership", None)
    if membership is None or not membership.is_active or not user.is_active:
        return None
    return membership


def _remembered(holder: Any, key: str, scopes: list[str], load: Callable[[], Any]) -> Any:
    """A value of the shared cache (`access.generations`), kept on `holder` (the request's user
    or org object) for the rest of the request, and while the shared cache cannot be filled."""
    memo = holder.__dict__.get("_access_memo")
    if memo is None or memo[0] != generations.epoch():
        memo = holder.__dict__["_access_memo"] = (generations.epoch(), {})
    if key not in memo[1]:
        memo[1][key] = generations.cached(key, scopes, load)
    return memo[1][key]


def defaults_cache_key(org_id: int) -> str:
    return f"access:org-defaults-by-generation:{org_id}"


def org_default(org: Organization, module: ModuleLike) -> str:
    """The module's org-wide default, cached in Redis (shared by every process) until changed."""
    levels = _remembered(org, defaults_cache_key(org.pk), [generations.org_scope(org.pk)],
                         lambda: dict(OrgWideDefault.objects.filter(org=org).values_list("module", "level")))
    return levels.get(module.key, module.default_access)


ACTION_PERMISSION = {"view": "view", "edit": "edit", "delete": "delete", "export": "export"}
SHARE_ACTIONS = {"read": ("view", "export"), "read_write": ("view", "export", "edit")}

# crm registers how to compile a sharing rule's criteria for a module (access knows no schemas).
_criteria_compiler: list[Callable[[Any, Any, dict], Q]] = []


def register_criteria_compiler(compiler: Callable[[Any, Any, dict], Q]) -> None:
    _criteria_compiler[:] = [compiler]


def module_allowed(user: User, module_key: str, permission: str) -> bool:
    """The profile switch for a module (administrators: always)."""
    membership = current_membership(user)
    if membership is None:
        return False
    if membership.is_admin:
        return True
    profile = membership.profile
    return True if profile is None and permission != "manage" else bool(profile and profile.allows(module_key, permission))


def field_level(user: User, module_key: str, field_key: str) -> str:
    """hidden, read_only or read_write, from the user's profile (administrators: read_write)."""
    membership = current_membership(user)
    if membership is None:
        return "hidden"
    if membership.is_admin or membership.profile is None:
        return "read_write"
    return membership.profile.field_level(module_key, field_key)


@dataclass(frozen=True)
class Grant:
    """One named reason a user may reach records: the predicate is these grants ORed together,
    and the "why can they see this" page names the ones that match a record."""

    label: str
    q: Q
    detail: str = ""
    kind: str = ""  # "user_share" / "group_share" for manual shares, which the page details per share


def named_grants(user: User, module: ModuleLike, action: str) -> list[Grant] | None:
    """The grants that give the user rows of `module` for `action`; None means no rows at all.

    Org modules: the profile must allow the action; then the org-wide default, own records,
    records owned below the user in the role hierarchy, sharing rules and manual shares.
    Modules whose `default_access` is "none" (team modules) start from nothing; registered
    providers (team roles) add grants. A grant with an empty Q covers every row.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    membership = current_membership(user)
    if membership is None:
        return None
    if membership.is_admin:
        return [Grant(_("Administrator"), Q())]
    grants: list[Grant] = []
    if module.default_access != "none":
        if not module_allowed(user, module.key, ACTION_PERMISSION[action]):
            return None
        level = org_default(user.org, module)
        everyone = (
            (level == OrgWideDefault.Level.PUBLIC_READ and action in ("view", "export"))
            or (level == OrgWideDefault.Level.PUBLIC_READ_WRITE and action in ("view", "export", "edit"))
        )
        if everyone:
            return [Grant(_("Org-wide default"), Q(), str(OrgWideDefault.Level(level).label))]
        for name in module.access_user_fields:
            grants.append(Grant(_("%(field)s of the record") % {"field": _field_label(module, name)},
                                Q(**{name: user.pk})))
        grants.extend(sharing_grants(user, membership, module, action))
    for provider in _grant_providers:
        extra = provider(user, membership, module, action)
        if extra is None:
            continue
        grant = Grant(getattr(provider, "grant_label", None) or _("Team role"), extra)
        if not extra:  # an empty Q grants every row
            return [grant]
        grants.append(grant)
    return grants or None


def _field_label(module: ModuleLike, name: str) -> str:
    has_field = getattr(module, "has_field", None)
    return str(module.field(name).label) if has_field and has_field(name) else name.capitalize()


def access_predicate(user: User, module: ModuleLike, action: str) -> Q | None:
    """The Q a user's rows must match for `action` (the named grants ORed); None means no rows.

    Built once per bound user object (a request's user) and module: pages ask several times
    (the list, its decisions, its counts). The memo goes with the user object, and is dropped
    when this process changes access settings or shares (`generations.epoch`)."""
    membership = current_membership(user)
    key = (getattr(getattr(user, "org", None), "pk", None), membership and (membership.pk, membership.role, membership.profile_id,
                                                           membership.org_role_id), module.key, action)
    memo = user.__dict__.get("_predicates")
    if memo is None or memo[0] != generations.epoch():
        memo = user.__dict__["_predicates"] = (generations.epoch(), {})
    if key not in memo[1]:
        memo[1][key] = _build_predicate(user, module, action)
    return memo[1][key]


def _build_predicate(user: User, module: ModuleLike, action: str) -> Q | None:
    grants = named_grants(user, module, action)
    if grants is None:
        return None
    if any(not grant.q for grant in grants):
        return Q()
    predicate = grants[0].q
    for grant in grants[1:]:
        predicate |= grant.q
    return predicate


def _users_in(org: Organization, kind: str, role: Any, group: Any):
    """A subquery of the user ids a sharing subject covers (never a Python list)."""
    members = Membership.objects.filter(org=org, is_active=True)
    if kind == "group":
        from .models import Group

        in_group = Group.objects.filter(pk=group.pk)
        return members.filter(Q(user__org_groups__in=in_group) | Q(org_role__groups__in=in_group)).values("user_id")
    if kind == "role_and_below":
        return members.filter(org_role__path__startswith=role.path).values("user_id")
    return members.filter(org_role=role).values("user_id")


def _user_groups(user: User, membership: Membership):
    """The groups the user is in, as a user or through their role. Two `IN` subqueries on the
    link tables: joining both (an OR over two LEFT JOINs) multiplies the rows to filter."""
    from .models import Group

    condition = Q(pk__in=Group.users.through.objects.filter(user_id=user.pk).values("group_id"))
    if membership.org_role_id:
        condition |= Q(pk__in=Group.roles.through.objects.filter(orgrole_id=membership.org_role_id)
                       .values("group_id"))
    return Group.objects.filter(condition, org=membership.org_id).values("pk")


def _rules_for(user: User, membership: Membership, module_key: str) -> list:
    """The sharing rules whose target includes the user: a rule shared with a role, group or
    subordinates the user is not among cannot grant them anything and is left out. All modules'
    rules in one query, cached until the org's access settings change."""
    from .models import SharingRule

    def load() -> dict[str, list]:
        role = membership.org_role
        targets = Q(target_kind="group", target_group__in=_user_groups(user, membership))
        if role is not None:
            ancestors = [int(pk) for pk in role.path.strip("/").split("/") if pk]
            targets |= Q(target_kind="role", target_role_id=role.pk)
            targets |= Q(target_kind="role_and_below", target_role_id__in=ancestors)
        found: dict[str, list] = {}
        for rule in (SharingRule.objects.filter(targets, org=membership.org_id)
                     .select_related("owner_role", "owner_group").order_by("pk")):
            found.setdefault(rule.module, []).append(rule)
        return found

    key = f"access:rules:{membership.org_id}:{user.pk}:{membership.org_role_id}"
    return _remembered(user, key, [generations.org_scope(membership.org_id)], load).get(module_key, [])


def _anyone_below(user: User, membership: Membership) -> bool:
    """Whether any member holds a role below the user's (else the hierarchy grants nothing)."""
    role = membership.org_role

    def load() -> bool:
        return (Membership.objects.filter(org=membership.org_id, org_role__path__startswith=role.path)
                .exclude(org_role=role).exists())

    return _remembered(user, f"access:below:{membership.org_id}:{role.pk}",
                       [generations.org_scope(membership.org_id)], load)


def sharing_grants(user: User, membership: Membership, module: ModuleLike, action: str) -> list[Grant]:
    grants: list[Grant] = []
    org = membership.org
    owner = module.access_user_fields[0] if module.access_user_fields else "owner"
    role = membership.org_role
    if role is not None and _anyone_below(user, membership):  # records owned by users in roles below mine
        below = (Membership.objects.filter(org=org, org_role__path__startswith=role.path)
                 .exclude(org_role=role).values("user_id"))
        grants.append(Grant(_("Role hierarchy"), Q(**{f"{owner}__in": below}),
                            _("above the owner, as “%(role)s”") % {"role": role.name}))
    for rule in _rules_for(user, membership, module.key):
        if action not in SHARE_ACTIONS[rule.access]:
            continue
        label, detail = _("Sharing rule “%(name)s”") % {"name": rule.name}, str(rule.get_access_display())
        if rule.criteria:
            if _criteria_compiler:
                grants.append(Grant(label, _criteria_compiler[0](module, org, rule.criteria), detail))
        elif rule.owner_kind:
            users = _users_in(org, rule.owner_kind, rule.owner_role, rule.owner_group)
            grants.append(Grant(label, Q(**{f"{owner}__in": users}), detail))
    grants.extend(manual_share_grants(user, membership, module, action))
    return grants


# Up to this many shared records of one kind are listed as `pk = ANY(ARRAY(SELECT ...))`, beyond
# as `pk IN (SELECT ...)` (see `_shared_ids`). Where the array filters rows it is searched
# linearly: about 1 µs a row at 100 ids, 10 µs at 1,000, against 0.35 µs for the hashed IN.
FEW_SHARES = 32


class _CappedCount(Subquery):
    """How many rows a subquery sliced to `[:cap]` returns: `(SELECT count(*) FROM (...))`."""

    template = "(SELECT count(*) FROM (%(subquery)s) AS capped)"
    output_field = IntegerField()


def shares_held(user: User, membership: Membership, model: type) -> dict[str, int]:
    """How many manual shares of `model` records the user holds, by kind and share permission,
    counted up to FEW_SHARES + 1: {"user:view": n, "group:view": n, "user:change": n,
    "group:change": n}. One query over the share tables' unique indexes, cached until a share
    of the model or the org's groups and roles change."""
    from .shares import permission_id, share_models

    user_model, group_model = share_models(model)
    org_id = membership.org_id

    def load() -> dict[str, int]:
        groups = _user_groups(user, membership).values("auth_group_id")
        probes = {}
        for verb in ("view", "change"):
            permission = permission_id(model, verb)
            for kind, rows in (("user", user_model.objects.filter(org=org_id, user=user.pk, permission=permission)),
                               ("group", group_model.objects.filter(org=org_id, group__in=groups,
                                                                    permission=permission))):
                probes[f"{kind}:{verb}"] = _CappedCount(rows.order_by().values("pk")[:FEW_SHARES + 1])
        return Organization.objects.filter(pk=org_id).values(**probes).first() or {}

    key = f"access:shares-held:{org_id}:{model._meta.label_lower}:{user.pk}:{membership.org_role_id}"
    scopes = [generations.org_scope(org_id), generations.shares_scope(org_id, model)]
    return _remembered(user, key, scopes, load)


class AnyOf(Lookup):
    """`lhs = ANY(rhs)`, for `pk = ANY(ARRAY(SELECT ...))`."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def _shared_ids(shares: QuerySet, held: int) -> Q:
    """The records a share query lists. Both forms are uncorrelated and run once (a correlated
    EXISTS is costed per row). `pk IN (SELECT ...)` is hashed, but the planner guesses it matches
    half the table, so a standard user's count left the owner index for a sequential scan;
    `pk = ANY(ARRAY(SELECT ...))` is estimated as a few rows (the list is planned on the owner
    index ORed with a primary-key lookup) but searched linearly where it filters rows: used
    while the user holds few shares of the kind."""
    ids = shares.values("content_object_id")
    if held <= FEW_SHARES:
        return Q(AnyOf(F("pk"), ArraySubquery(ids)))
    return Q(pk__in=ids)


def manual_share_grants(user: User, membership: Membership, module: ModuleLike, action: str) -> list[Grant]:
    """Records shared by hand with the user or one of their groups (guardian permission rows);
    only the kinds of share the user holds on the module (`shares_held`)."""
    from .shares import ACTION_PERMISSION as SHARE_PERMISSION, permission_id, share_models

    models_ = share_models(module.model)
    if models_ is None or action not in SHARE_PERMISSION:
        return []
    verb = SHARE_PERMISSION[action]
    permission = permission_id(module.model, verb)
    if permission is None:
        return []
    held = shares_held(user, membership, module.model)
    user_model, group_model = models_
    grants = []
    mine = held.get(f"user:{verb}", FEW_SHARES + 1)
    if mine:
        rows = user_model.objects.filter(org=membership.org_id, user=user.pk, permission=permission)
        grants.append(Grant(_("Manual share"), _shared_ids(rows, mine), kind="user_share"))
    ours = held.get(f"group:{verb}", FEW_SHARES + 1)
    if ours:
        groups = _user_groups(user, membership).values("auth_group_id")
        rows = group_model.objects.filter(org=membership.org_id, group__in=groups, permission=permission)
        grants.append(Grant(_("Manual share with a group"), _shared_ids(rows, ours), kind="group_share"))
    return grants


def visible(user: User, module: ModuleLike, action: str = "view", *, deleted: bool = False,
            listing: bool = True) -> QuerySet:
    """Records of `module` in the user's current org on which the user may do `action`. For
    `view` and `export`, records a list filter keeps out of lists are left out unless `listing`
    is False (one record asked for by id)."""
    org = getattr(user, "org", None)
    if org is None:
        return module.model.objects.none()
    qs = module.base_queryset(org).filter(deleted_at__isnull=not deleted)
    predicate = access_predicate(user, module, action)
    if predicate is None:
        return qs.none()
    qs = qs.filter(predicate) if predicate else qs
    if listing and action in ("view", "export") and not deleted:
        for list_filter in _list_filters:
            kept = list_filter(user, module, action)
            if kept is not None:
                qs = qs.filter(kept)
    # Fields masked for the user (a pool's records before a claim) come out masked, however read.
    return masked_queryset(qs, masks_for(user, module))


def get_record(user: User, module: ModuleLike, pk: Any, action: str = "view", *, deleted: bool = False):
    """One record, or the same 404 whether it is missing, in another org, or not visible."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404
    obj = visible(user, module, action, deleted=deleted, listing=False).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def can_each(user: User, module: ModuleLike, record: Any, actions: Any) -> dict[str, bool]:
    """For several actions, whether the user may do each on this record: one query (none when
    the answers follow from the predicates alone, as for an administrator)."""
    org = getattr(user, "org", None)
    answers = {action: False for action in actions}
    predicates = {action: access_predicate(user, module, action) for action in answers}
    pending = {action: q for action, q in predicates.items() if q is not None}
    if org is None or not pending:
        return answers
    pk = getattr(record, "pk", record)
    row = (module.base_queryset(org).filter(pk=pk, deleted_at__isnull=True)
           .annotate(**{f"may_{action}": Case(When(q, then=Value(True)), default=Value(False),
                                               output_field=BooleanField()) if q else Value(True)
                        for action, q in pending.items()})
           .values(*(f"may_{action}" for action in pending)).first())
    answers.update({action: bool(row and row[f"may_{action}"]) for action in pending})
    return answers


def can(user: User, module: ModuleLike, record: Any, action: str) -> bool:
    """Whether the user may do `action` on this record, given as a record or its id (one EXISTS query)."""
    return visible(user, module, action, listing=False).filter(pk=getattr(record, "pk", record)).exists()


def is_org_admin(user: User) -> bool:
    membership = current_membership(user)
    return bool(membership and membership.is_admin)
