"""Customer pools (公海): records nobody owns, waiting for an eligible rep to claim them.

A record (lead or account) is in a pool while it has no owner and a `pool_id` (columns on the
record, so the visibility predicate reads them without a join). `PoolState` keeps, per record,
what the pool needs about its stay (when it entered, who held it before, when it was claimed),
and `PoolMove` every move in or out: the record's pool history and what limits, recycling and a
dashboard count."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.models import Group, Organization, OrgRole

POOL_MODULES = (("leads", _("Leads")), ("accounts", _("Accounts")))


class Dedupe(models.TextChoices):
    """What the door (pool.door) does with a record entering the pool by hand (released, moved,
    imported) that duplicates one waiting there, or another entering with it."""

    REFUSE = "refuse", _("Refuse it, naming the existing record")
    MERGE = "merge", _("Merge it into the existing record")
    LINK = "link", _("Let it in, marked as a possible duplicate")
    OFF = "off", _("Let it in (no check)")


class Pool(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    module = models.CharField(_("module"), max_length=20, choices=POOL_MODULES)
    # Who sees the pool's records and may claim them: any of these users, roles, groups, team spaces.
    member_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    member_roles = models.ManyToManyField(OrgRole, blank=True, related_name="+")
    member_groups = models.ManyToManyField(Group, blank=True, related_name="+")
    member_spaces = models.ManyToManyField("teams.TeamSpace", blank=True, related_name="+")
    # Who assigns from the pool (and sees its records unmasked, claims during the embargo).
    admins = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    masked_fields = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    # Limits; None (or 0 days/hours) means no limit.
    capacity = models.PositiveIntegerField(_("records a rep may hold at once"), null=True, blank=True)
    capacity_counts_won = models.BooleanField(_("won customers count towards the capacity"), default=True)
    daily_claims = models.PositiveIntegerField(_("claims per rep per day"), null=True, blank=True)
    cooldown_days = models.PositiveIntegerField(_("cool-down days for the former owner"), default=0)
    embargo_hours = models.PositiveIntegerField(_("embargo hours on new entries"), default=0)
    release_on_deactivation = models.BooleanField(
        _("a deactivated owner's records enter this pool"), default=False)
    dedupe = models.CharField(_("duplicates at the door"), max_length=10, choices=Dedupe.choices,
                              default=Dedupe.REFUSE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="uniq_pool_name")]
        indexes = [models.Index(fields=["org", "module"], name="pool_org_module")]

    def __str__(self) -> str:
        return self.name


class PoolState(models.Model):
    """A record's stay in a pool: one row per record that ever was in one, kept after a claim
    (the former owner and the times feed cool-downs, recycling and warnings)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=20)
    record_id = models.BigIntegerField()
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="states")
    in_pool = models.BooleanField(default=True)
    entered_at = models.DateTimeField(default=timezone.now)
    entered_how = models.CharField(max_length=20, blank=True)  # released, moved, deactivated, recycled ...
    # A person's words (releasing); a recycled record's reason is on its history row (PoolMove).
    entry_reason = models.TextField(blank=True)
    former_owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")  # who took it out of the pool last
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Recycling (pool.recycle): when the claimed record returns to the pool unless followed up,
    # which rule makes it due ("n" no follow-up, "m" no deal, "w" not won, "x" excluded: re-checked
    # then), the due date a warning was sent for, the owner's protection, the last follow-up seen.
    due_at = models.DateTimeField(null=True, blank=True)
    due_rule = models.CharField(max_length=1, blank=True)
    warned_for = models.DateTimeField(null=True, blank=True)
    protected = models.BooleanField(default=False)
    followed_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "record_id"], name="uniq_pool_state")]
        indexes = [
            # The pool list: newest entries first, a page at a time (keyset on entered_at, record_id).
            models.Index(fields=["org", "pool", "-entered_at", "-record_id"], name="poolstate_list",
                         condition=models.Q(in_pool=True)),
            # Claimed records by holder (recycling, a rep's holdings).
            models.Index(fields=["org", "holder", "claimed_at"], name="poolstate_holder",
                         condition=models.Q(in_pool=False)),
            # The recycling job: a pool's claimed records coming due, earliest first.
            models.Index(fields=["org", "pool", "due_at", "id"], name="poolstate_due",
                         condition=models.Q(in_pool=False, due_at__isnull=False)),
            # The dashboard: a pool's claimed records by holder, and its claims of the last days.
            models.Index(fields=["org", "pool", "holder", "claimed_at"], name="poolstate_pool_holder",
                         condition=models.Q(in_pool=False, holder__isnull=False)),
            models.Index(fields=["org", "pool", "claimed_at"], name="poolstate_pool_claimed",
                         condition=models.Q(claimed_at__isnull=False)),
        ]


class PoolMove(models.Model):
    """One move of a record into, out of or between pools: its pool history."""

    class Kind(models.TextChoices):
        RELEASED = "released", _("Released to the pool")
        MOVED = "moved", _("Moved to the pool")
        DEACTIVATED = "deactivated", _("Owner deactivated")
        CLAIMED = "claimed", _("Claimed")
        ASSIGNED = "assigned", _("Assigned from the pool")
        OWNER_CHANGED = "owner_changed", _("Owner set while in the pool")
        RECYCLED = "recycled", _("Recycled to the pool")
        IMPORTED = "imported", _("Imported into the pool")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    pool = models.ForeignKey(Pool, null=True, on_delete=models.SET_NULL, related_name="+")
    module = models.CharField(max_length=20)
    record_id = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)  # a person's words (releasing, overriding the limits)
    # The system's reason (recycling), language-neutral: {"code": ..., params} (pool.reasons).
    coded_reason = models.JSONField(null=True, blank=True)
    overridden = models.BooleanField(default=False)  # an assignment past the limits, with its reason
    path = models.CharField(max_length=50, default="page")
    at = models.DateTimeField(default=timezone.now)

    @property
    def reason_text(self) -> str:
        """The reason in the reader's language (a coded one rendered; typed words as typed)."""
        from .reasons import reason_text

        return reason_text(self.coded_reason if self.coded_reason else self.reason)

    class Meta:
        indexes = [
            models.Index(fields=["org", "module", "record_id", "-at"], name="poolmove_record"),
            # A rep's claims of a day (the daily limit), and per-day figures for a dashboard.
            models.Index(fields=["org", "pool", "to_user", "kind", "at"], name="poolmove_user_day"),
            # The dashboard's moves per day of the kinds it shows (not every entry of the pool).
            models.Index(fields=["org", "pool", "kind", "at"], name="poolmove_pool_kind_at"),
        ]


class PoolCounter(models.Model):
    """One row per rep and org, locked (SELECT ... FOR UPDATE) by every claim and assignment to
    the rep: their limits are then counted and spent by one transaction at a time."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="uniq_pool_counter")]


class RecyclePolicy(models.Model):
    """A pool's recycling rules: a claimed record returns to the pool after N days without a
    follow-up, M days without a deal, W days without a win (days per customer level)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    pool = models.OneToOneField(Pool, on_delete=models.CASCADE, related_name="recycle")
    enabled = models.BooleanField(_("recycle claimed records"), default=False)
    enabled_at = models.DateTimeField(null=True, blank=True)  # due dates count from here at the earliest
    level_field = models.CharField(_("customer level field"), max_length=40, blank=True)
    # {"*": {"n": 30, "m": 60, "w": 180}, "A": {"n": 60, ...}}: days per level ("*": any other level).
    rules = models.JSONField(default=dict, blank=True)
    warn_days = models.PositiveIntegerField(_("warn this many days before"), default=2)
    protect_quota = models.PositiveIntegerField(_("protected customers per rep"), default=0)
    open_deal_amount = models.DecimalField(_("keep records with an open deal of at least"), max_digits=16,
                                           decimal_places=2, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "enabled"], name="recyclepolicy_org")]


class PossibleDuplicate(models.Model):
    """A record let into a pool although it looked like another (the pool's dedupe setting "link",
    or an automatic entry): the pair, what matched, and when. The pool list and the record page
    mark both records, pointing at each other, until one of them is deleted or merged."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=20)
    record_id = models.BigIntegerField()  # the record that entered
    other_id = models.BigIntegerField()  # the record it looks like (waiting, or entering with it)
    pool = models.ForeignKey(Pool, null=True, on_delete=models.SET_NULL, related_name="+")
    fields = ArrayField(models.CharField(max_length=40), default=list)  # the field keys that matched
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    path = models.CharField(max_length=50, default="page")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "record_id", "other_id"],
                                               name="uniq_possible_duplicate")]
        indexes = [models.Index(fields=["org", "module", "other_id"], name="possibleduplicate_other")]
