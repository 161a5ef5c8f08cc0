"""Writes of the access app: organisations, users, memberships, org-wide defaults."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import audit, seal
from .models import PERMISSIONS, Membership, Organization, OrgWideDefault, Profile, PublicField, User
from .visibility import is_org_admin


def _require_admin(actor: User) -> None:
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an organisation administrator may do this."))


ALL = {p: True for p in PERMISSIONS}
DEFAULT_PROFILES = {
    "Administrator": {"*": ALL},
    "Standard": {"*": {**ALL, "manage": False}},
    "Read-only": {"*": {p: p in ("view", "export") for p in PERMISSIONS}},
}


def create_default_profiles(org: Organization) -> dict[str, Profile]:
    """The shipped profiles every organisation starts with (admins clone and edit them)."""
    return {name: Profile.objects.create(org=org, name=name, permissions=permissions, is_system=True)
            for name, permissions in DEFAULT_PROFILES.items()}


def email_taken(email: str, *, exclude_user_id: int | None = None) -> bool:
    """Whether a user already has this e-mail address, whatever its case (on their user row or as
    one of their addresses)."""
    from allauth.account.models import EmailAddress  # allauth is loaded with the apps

    users = User.objects.filter(email__iexact=email)
    addresses = EmailAddress.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
        addresses = addresses.exclude(user_id=exclude_user_id)
    return bool(email) and (users.exists() or addresses.exists())


EMAIL_TAKEN = gettext_lazy("A user with this e-mail address already exists.")


def _create_user(*, email_verified: bool, **fields: Any) -> User:
    """A new user, with their e-mail address as allauth keeps it (verified or waiting for the
    link). A username or address taken meanwhile (two sign-ups at once, both checked before either
    saved) is the form's "taken" error, not a unique violation. The caller's transaction rolls
    back what it made before."""
    from allauth.account.models import EmailAddress

    try:
        with transaction.atomic():
            user = User.objects.create_user(**fields)
            if user.email:
                EmailAddress.objects.create(user=user, email=user.email.lower(), primary=True,
                                            verified=email_verified)
            return user
    except IntegrityError:
        if User.objects.filter(username__iexact=fields["username"]).exists():
            raise ValidationError({"username": _("This username is already taken.")})
        if email_taken(fields.get("email", "")):
            raise ValidationError({"email": EMAIL_TAKEN})
        raise


@transaction.atomic
def do_sign_up(*, org_name: str, username: str, email: str, password: str,
               first_name: str = "", last_name: str = "", language: str = "en",
               department: str = "", email_verified: bool = True) -> Membership:
    """Create an organisation and its first administrator. The sign-up page passes
    email_verified=False: the administrator logs in once they have opened the link e-mailed to
    them. Organisations made by an operator (the demo, scripts) start verified."""
    if email_taken(email):
        raise ValidationError({"email": EMAIL_TAKEN})
    org = Organization.objects.create(name=org_name)
    with seal.bound(org.pk):  # a visitor making an org: its first rows are written inside it
        profiles = create_default_profiles(org)
        user = _create_user(username=username, email=email, password=password, first_name=first_name,
                            last_name=last_name, language=language, last_org=org, email_verified=email_verified)
        return Membership.objects.create(org=org, user=user, role=Membership.Role.ADMIN, department=department,
                                         profile=profiles["Administrator"])


@transaction.atomic
def do_add_user(org: Organization, *, username: str, email: str, password: str, role: str,
                first_name: str = "", last_name: str = "", department: str = "",
                actor: User) -> Membership:
    """An administrator adds a new user to their org with an initial password. The address counts
    as verified (the administrator vouches for it), so the user can log in at once."""
    _require_admin(actor)
    if actor.org != org:
        raise PermissionDenied
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This username is already taken.")})
    if email_taken(email):
        raise ValidationError({"email": EMAIL_TAKEN})
    user = _create_user(username=username, email=email, password=password,
                        first_name=first_name, last_name=last_name, last_org=org, email_verified=True)
    profile = Profile.objects.filter(org=org, name="Administrator" if role == Membership.Role.ADMIN else "Standard").first()
    membership = Membership.objects.create(org=org, user=user, role=role, department=department, profile=profile)
    audit.record(org, audit.Event.USER_ADDED, actor=actor, obj=user,
                 new={"username": user.username, "role": role, "department": department,
                      "profile": profile.name if profile else None})
    return membership


# Apps above (the customer pools) act on a deactivation inside its transaction:
# listener(org, user, actor).
_deactivation_listeners: list = []


def register_deactivation_listener(listener) -> None:
    if listener not in _deactivation_listeners:
        _deactivation_listeners.append(listener)


@transaction.atomic
def do_set_membership_active(membership: Membership, active: bool, *, actor: User) -> Membership:
    """Deactivate (or reactivate) a member. The middleware checks the membership on every
    request, so a deactivated user's sessions end at once; their records stay."""
    _require_admin(actor)
    if membership.org_id != actor.org.pk:
        raise PermissionDenied
    if membership.user_id == actor.pk and not active:
        raise ValidationError(_("You cannot deactivate yourself."))
    was = membership.is_active
    membership.is_active = active
    membership.save(update_fields=["is_active"])
    if was != active:
        audit.record(membership.org_id, audit.Event.USER_ACTIVATED if active else audit.Event.USER_DEACTIVATED,
                     actor=actor, obj=membership.user, old={"active": was}, new={"active": active})
        if not active:
            for listener in list(_deactivation_listeners):
                listener(membership.org, membership.user, actor)
    return membership


@transaction.atomic
def do_set_membership_role(membership: Membership, role: str, *, actor: User) -> Membership:
    _require_admin(actor)
    if membership.org_id != actor.org.pk:
        raise PermissionDenied
    if membership.user_id == actor.pk and role != Membership.Role.ADMIN:
        raise ValidationError(_("You cannot remove your own administrator role."))
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(membership.org_id, audit.Event.USER_ROLE_CHANGED, actor=actor, obj=membership.user,
                 old={"role": old}, new={"role": role})
    return membership


def do_set_language(user: User, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def do_switch_org(user: User, org_id: int) -> Membership:
    membership = Membership.objects.select_related("org").filter(
        user=user, org_id=org_id, is_active=True).first()
    if membership is None:
        raise PermissionDenied
    user.last_org = membership.org
    user.save(update_fields=["last_org"])
    return membership


@transaction.atomic
def do_set_org_default(org: Organization, module_key: str, level: str, *, actor: User) -> OrgWideDefault:
    _require_admin(actor)
    if actor.org != org:
        raise PermissionDenied
    if level not in OrgWideDefault.Level.values:
        raise ValidationError({"level": _("Unknown access level.")})
    old = OrgWideDefault.objects.filter(org=org, module=module_key).values_list("level", flat=True).first()
    owd, _created = OrgWideDefault.objects.update_or_create(org=org, module=module_key, defaults={"level": level})
    audit.record(org, audit.Event.ORG_DEFAULT_CHANGED, actor=actor, object_type="module", object_id=module_key,
                 object_name=module_key, old={"level": old}, new={"level": level})
    return owd


@transaction.atomic
def do_set_public_fields(org: Organization, module_key: str, field_keys: list[str], *, actor: User,
                         known_field_keys: list[str] | None = None) -> None:
    """Choose which fields of an org module are public (readable through lookups).
    `access` knows no schemas: callers pass the module's field keys to check against."""
    _require_admin(actor)
    if actor.org != org:
        raise PermissionDenied
    known = set(known_field_keys or field_keys)
    unknown = sorted(set(field_keys) - known)
    if unknown:
        raise ValidationError({"fields": [_("Unknown fields: %(keys)s.") % {"keys": ", ".join(unknown)}]})
    before = set(PublicField.objects.filter(org=org, module=module_key).values_list("field_key", flat=True))
    PublicField.objects.filter(org=org, module=module_key).exclude(field_key__in=field_keys).delete()
    existing = set(PublicField.objects.filter(org=org, module=module_key).values_list("field_key", flat=True))
    audit.record(org, audit.Event.PUBLIC_FIELDS_CHANGED, actor=actor, object_type="module", object_id=module_key,
                 object_name=module_key, old={"fields": before}, new={"fields": set(field_keys)})
    PublicField.objects.bulk_create([PublicField(org=org, module=module_key, field_key=key)
                                     for key in field_keys if key not in existing])


def do_set_team_modules_admin(membership: Membership, allowed: bool, *, actor: User) -> Membership:
    """Give a senior executive view access to every record of every team module."""
    _require_admin(actor)
    if membership.org_id != actor.org.pk:
        raise PermissionDenied
    old = membership.team_modules_admin
    membership.team_modules_admin = allowed
    membership.save(update_fields=["team_modules_admin"])
    audit.record(membership.org_id, audit.Event.USER_TEAM_MODULES_ADMIN, actor=actor, obj=membership.user,
                 old={"team_modules_admin": old}, new={"team_modules_admin": allowed})
    return membership


def _check_password(password: str, user: User) -> None:
    """The configured validators (settings.AUTH_PASSWORD_VALIDATORS), reported on the password field."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages})


@transaction.atomic
def do_set_user_password(membership: Membership, password: str, *, must_change: bool, actor: User) -> User:
    """An administrator sets a new password for a user of their org, optionally one the user must
    change at their next login. The user's sessions end (Django ties each session to the password)."""
    _require_admin(actor)
    if membership.org_id != actor.org.pk:
        raise PermissionDenied
    user = User.objects.select_for_update().get(pk=membership.user_id)
    _check_password(password, user)
    user.set_password(password)
    user.must_change_password = must_change
    user.save(update_fields=["password", "must_change_password"])
    audit.record(membership.org_id, audit.Event.USER_PASSWORD_SET, actor=actor, obj=user,
                 new={"must_change_password": must_change})
    return user


@transaction.atomic
def do_change_own_password(user: User, password: str) -> User:
    """A user changes their own password (the page checked the old one) or sets a new one from a
    password-reset link; a forced change is done. Their other sessions end (Django ties each session
    to the password); the change page keeps the current one (update_session_auth_hash)."""
    _check_password(password, user)
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    return user


@transaction.atomic
def do_lift_lockout(org: Organization, attempt_id: int, *, actor: User) -> None:
    """An administrator lifts a failed-login lockout of one of their org's users (the attempts of
    that username from that address are forgotten, as django-axes's own reset does)."""
    from .lockouts import current_lockouts  # axes is loaded with the apps

    _require_admin(actor)
    if actor.org != org:
        raise PermissionDenied
    attempt = current_lockouts(org).filter(pk=attempt_id).first()
    if attempt is None:
        raise ValidationError(_("This lockout has already ended."))
    user = User.objects.filter(username=attempt.username).first()
    audit.record(org, audit.Event.USER_LOCKOUT_LIFTED, actor=actor, obj=user,
                 object_type="" if user else "access.user", object_name="" if user else attempt.username,
                 old={"failures": attempt.failures_since_start, "ip_address": attempt.ip_address})
    attempt.delete()


@transaction.atomic
def do_set_two_factor_policy(org: Organization, policy: str, *, actor: User) -> Organization:
    """An administrator chooses who in the organisation must use two-factor authentication:
    nobody, the administrators or everyone. Those who must and have not set it up are sent to
    set it up before anything else (access.middleware.TwoFactorRequiredMiddleware)."""
    _require_admin(actor)
    if actor.org != org:
        raise PermissionDenied
    if policy not in Organization.TwoFactorPolicy.values:
        raise ValidationError({"policy": _("Choose who must use two-factor authentication.")})
    org = Organization.objects.select_for_update().get(pk=org.pk)
    old = org.two_factor_policy
    org.two_factor_policy = policy
    org.save(update_fields=["two_factor_policy"])
    audit.record(org, audit.Event.TWO_FACTOR_POLICY_CHANGED, actor=actor, obj=org,
                 old={"two_factor_policy": old}, new={"two_factor_policy": policy})
    return org
