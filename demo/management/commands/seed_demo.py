"""Load the demo organisation "Zylker" (idempotent: a second run adds nothing)."""
from __future__ import annotations

import random
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from access.actions import do_add_user, do_sign_up
from access.models import Membership, Organization
from access.visibility import bind_org
from crm import actions
from crm.modules import DEAL_STAGES, INDUSTRIES, LEAD_SOURCES, LEAD_STATUSES, TASK_STATUSES
from demo.seed_pools import seed_pools
from demo.seed_reviews import seed_reviews

ORG_NAME = "Zylker"
PASSWORD = "zylker-demo-2026"
# username, first, last, department, org role
USERS = [
    ("admin", "Ada", "Admin", "Management", "admin"),
    ("sam", "Sam", "Seller", "Sales", "standard"),
    ("sally", "Sally", "Chen", "Sales", "standard"),
    ("sergio", "Sergio", "Diaz", "Sales", "standard"),
    ("sofia", "Sofia", "Wang", "Sales", "standard"),
    ("mark", "Mark", "Liu", "Marketing", "standard"),
    ("emily", "Emily", "Zhang", "Marketing", "standard"),
    ("mia", "Mia", "Park", "Marketing", "standard"),
    ("max", "Max", "Müller", "Marketing", "standard"),
    ("sven", "Sven", "Berg", "Service", "standard"),
    ("sara", "Sara", "Li", "Service", "standard"),
    ("simon", "Simon", "Zhao", "Service", "standard"),
]
COMPANY_PARTS = ["星辰", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "蓝天", "华夏", "Stark",
                 "Wayne", "Tyrell", "Soylent", "Cyberdyne", "龙腾", "Aperture", "Oscorp", "Wonka", "金山", "Zenith"]
SUFFIXES = ["Ltd", "Inc", "GmbH", "科技有限公司", "Group", "Labs", "Systems", "Partners"]
CITIES = ["Beijing", "Shanghai", "Shenzhen", "Berlin", "London", "New York", "Singapore", "Chennai", "São Paulo"]
FIRST = ["Li", "Wei", "Anna", "John", "Maria", "Chen", "Priya", "Omar", "Yuki", "Lukas", "Fatima", "Ken"]
LAST = ["Wang", "Zhang", "Smith", "Garcia", "Kumar", "Tanaka", "Schmidt", "Ali", "Brown", "Zhou", "Novak"]


def handle_pending_events(org) -> None:
    """Run the automation pipeline on the org's outstanding record events, here and now (as a
    worker would; a worker given them later finds them handled)."""
    from automation.models import PendingEvent
    from automation.tasks import process_event

    for pending_id in PendingEvent.objects.filter(org=org).order_by("pk").values_list("pk", flat=True):
        process_event.run(pending_id)


class Command(BaseCommand):
    help = "Create the demo organisation Zylker with users and records (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="Multiply record counts (tests use less).")

    def handle(self, *args, scale: float = 1.0, **options):
        if Organization.objects.filter(name=ORG_NAME).exists():
            self.stdout.write("Demo organisation already present; nothing added.")
            return
        with transaction.atomic():
            org, admin, users = self.seed(scale)
        # The demo's own records are handled now, before the rules exist, so the rules act only on
        # what people do next (not reassigning every demo lead, nor acting on every won deal).
        handle_pending_events(org)
        with transaction.atomic():
            self.seed_automation(org, admin, users)
        self.stdout.write(self.style.SUCCESS(f"Demo organisation {ORG_NAME} created. Password for all: {PASSWORD}"))

    def seed(self, scale: float) -> tuple:
        rng = random.Random(2026)
        username, first, last, department, _role = USERS[0]
        membership = do_sign_up(org_name=ORG_NAME, username=username, email=f"{username}@zylker.example",
                                password=PASSWORD, first_name=first, last_name=last, department=department)
        org = membership.org
        admin = bind_org(membership.user, org, membership)
        users = [admin]
        for username, first, last, department, role in USERS[1:]:
            member = do_add_user(org, username=username, email=f"{username}@zylker.example", password=PASSWORD,
                                 role=role, first_name=first, last_name=last, department=department, actor=admin)
            users.append(bind_org(member.user, org, member))
        sales = [u for u in users if u.membership.department == "Sales"] or users
        actors = {u.pk: u for u in users}

        def count(n: int) -> int:
            return max(1, int(n * scale))

        def create(module: str, data: dict, owner) -> object:
            return actions.do_create_record(module, data, actor=actors[owner.pk], path="system")

        accounts = []
        for i in range(count(200)):
            owner = rng.choice(sales)
            name = f"{rng.choice(COMPANY_PARTS)} {rng.choice(SUFFIXES)} {i + 1}"
            accounts.append(create("accounts", {
                "name": name, "industry": rng.choice(INDUSTRIES).value, "employees": rng.randint(5, 20000),
                "website": f"www.example{i + 1}.com", "phone": f"+86 138 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                "city": rng.choice(CITIES), "country": "",
            }, owner))
        for i in range(count(500)):
            account = rng.choice(accounts)
            create("contacts", {
                "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST), "account": account.pk,
                "title": rng.choice(["CEO", "CTO", "Buyer", "Engineer", "Marketing lead"]),
                "email": f"contact{i + 1}@example.com", "phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            }, actors[account.owner_id])
        for i in range(count(300)):
            create("leads", {
                "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST),
                "company": f"{rng.choice(COMPANY_PARTS)} {rng.choice(SUFFIXES)}", "email": f"lead{i + 1}@example.org",
                "phone": f"+86 139 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                "status": rng.choice(LEAD_STATUSES).value, "source": rng.choice(LEAD_SOURCES).value,
            }, rng.choice(sales))
        # A trade-show lead typed in twice (the company in full-width letters, the phone written
        # two ways): Leads' "Find duplicates" page shows the pair, ready to merge.
        for data in ({"first_name": "Jing", "last_name": "Chen", "company": "Starfield Tech",
                      "phone": "+86 139 0000 1234", "source": "event", "status": "new"},
                     {"first_name": "JING", "last_name": "chen", "company": "Ｓｔａｒｆｉｅｌｄ　Tech",
                      "phone": "0086 139-0000-1234", "email": "chen.jing@starfield.example", "status": "new"}):
            create("leads", data, sales[0])
        today = timezone.localdate()
        deals = []
        for i in range(count(150)):
            account = rng.choice(accounts)
            deals.append(create("deals", {
                "name": f"{account.name} – {rng.choice(['Renewal', 'Expansion', 'New business', 'Pilot'])}",
                "account": account.pk, "stage": rng.choice(DEAL_STAGES).value,
                "amount": Decimal(rng.randint(10, 500) * 1000), "discount": Decimal(rng.choice([0, 5, 10, 15])),
                "close_date": today + timezone.timedelta(days=rng.randint(-60, 120)),
            }, actors[account.owner_id]))
        for i in range(count(120)):
            owner = rng.choice(users)
            task = create("tasks", {
                "subject": rng.choice(["Call back", "Send proposal", "Prepare case study", "Follow up", "Demo"]),
                "due_date": today + timezone.timedelta(days=rng.randint(-10, 30)),
                "status": rng.choice(TASK_STATUSES).value, "assignee": rng.choice(users).pk,
            }, owner)
            deal = rng.choice(deals)
            if actors[owner.pk].membership.is_admin or deal.owner_id == owner.pk:
                actions.do_link_task(task, deal, actor=actors[owner.pk], path="system")
        self.seed_teams(org, admin, users, accounts, rng)
        self.seed_access_and_locks(org, admin, users, deals)
        for deal in rng.sample(deals, k=min(len(deals), count(60))):
            author = actors[deal.owner_id]
            mention = rng.choice(users)
            actions.do_add_note(deal, f"Spoke to the buyer; @{mention.username} please prepare a case study.",
                                actor=author, path="system")
        seed_reviews(org, admin, users)  # a referral lead awaiting the head of sales' review
        seed_pools(org, admin, users, rng, count(12))  # leads and accounts waiting in the China East pools
        return org, admin, users

    def seed_teams(self, org, admin, users, accounts, rng) -> None:
        """Team spaces and the case-study story: Marketing takes requests from Sales."""
        from teams import actions as team_actions
        from teams.schema import schema_for

        by_name = {u.username: u for u in users}
        marketing = team_actions.do_create_space(org, name_en="Marketing", name_zh="市场部",
                                                 description="Campaigns, content and case studies.",
                                                 manager_ids=[by_name["mark"].pk], actor=admin)
        team_actions.do_set_team_member(marketing, by_name["emily"].pk, "participant", actor=admin)
        team_actions.do_set_team_member(marketing, by_name["mia"].pk, "member", actor=admin)
        team_actions.do_set_team_member(marketing, by_name["max"].pk, "member", actor=admin)
        for name, name_zh, manager in (("Sales", "销售部", "sam"), ("Customer Success", "客户成功部", "sven")):
            team_actions.do_create_space(org, name_en=name, name_zh=name_zh, manager_ids=[by_name[manager].pk],
                                         actor=admin)
        mark = by_name["mark"]
        statuses = [
            {"value": "requested", "label_en": "Requested", "label_zh": "已请求", "color": "#6c757d"},
            {"value": "in_progress", "label_en": "In progress", "label_zh": "进行中", "color": "#0d6efd"},
            {"value": "review", "label_en": "Review", "label_zh": "审核中", "color": "#fd7e14"},
            {"value": "done", "label_en": "Done", "label_zh": "完成", "color": "#198754"},
        ]
        module = team_actions.do_create_team_module(
            marketing, name_en="Case Studies", name_zh="案例研究", name_singular_en="Case study",
            name_singular_zh="案例研究", icon="file-earmark-text", statuses=statuses,
            manager_only_statuses=["done"], done_statuses=["done"], actor=mark)
        fields = [("customer", "Customer", "客户", "lookup", {"target": "accounts"}),
                  ("due", "Due date", "截止日期", "date", {}),
                  ("brief", "Brief", "简介", "long_text", {}),
                  ("format", "Format", "形式", "picklist",
                   {"options": [{"value": "pdf", "label_en": "PDF"}, {"value": "video", "label_en": "Video"},
                                {"value": "web", "label_en": "Web page"}]})]
        definitions = {}
        for api_name, label_en, label_zh, field_type, extra in fields:
            definitions[api_name] = actions.do_create_field(
                org, module.key, api_name=api_name, label_en=label_en, label_zh=label_zh, field_type=field_type,
                shown_to_requesters=True, in_list=api_name != "brief", actor=mark, **extra)
        # The finished case study: uploaded by the team on the record, downloaded by the requester.
        definitions["deliverable"] = actions.do_create_field(
            org, module.key, api_name="deliverable", label_en="Deliverable", label_zh="交付文件", field_type="file",
            shown_to_requesters=True, in_list=True, actor=mark,
            help_text="The finished case study; the requester downloads it from the Requests tab.")
        module = team_actions.do_update_team_module(
            module, name_en=module.name_en, name_zh=module.name_zh, icon=module.icon, statuses=statuses,
            manager_only_statuses=["done"], done_statuses=["done"], due_field_id=definitions["due"].pk, actor=mark)
        sales = [u for u in users if u.membership.department == "Sales"]
        team_actions.do_set_requesters(module, [u.pk for u in sales], actor=mark)
        from access.actions import do_set_public_fields

        do_set_public_fields(org, "accounts", ["industry", "employees", "website"], actor=admin)
        today = timezone.localdate()
        schema = schema_for(module).bind(org)
        for i in range(12):
            rep = rng.choice(sales)
            account = rng.choice([a for a in accounts if a.owner_id == rep.pk] or accounts)
            request = team_actions.do_submit_request(module, {
                "title": f"Case study: {account.name}", "customer": account.pk,
                "due": today + timezone.timedelta(days=rng.randint(-5, 30)),
                "brief": "Customer story for the sales deck.", "format": rng.choice(["pdf", "video", "web"]),
            }, actor=rep)
            if i % 3:
                request = team_actions.do_assign(request, rng.choice([by_name["emily"], by_name["mia"]]).pk,
                                                 version=request.version, actor=mark)
                status = rng.choice(["in_progress", "review", "done"])
                changes = {"status": status}
                if status == "done":
                    story = f"# {account.name}\n\nHow {account.name} works with us.\n".encode()
                    changes["deliverable"] = SimpleUploadedFile(f"case-study-{account.pk}.md", story, "text/markdown")
                actions.do_update_record(request, changes, version=request.version, actor=mark, schema=schema)

    def seed_automation(self, org, admin, users) -> None:
        """Rules made after the demo records, so they act on what people do next: new leads go
        round robin to the sales reps; a discount above 30% is refused; a won deal tells the
        admin to invoice and gives its owner a task to hand over to service."""
        from automation import assignment_actions, rule_actions
        from automation.workflow_rule_actions import do_create_workflow_rule, do_set_workflow_rule_active

        sales = [u.pk for u in users if u.membership.department == "Sales"]
        rule = assignment_actions.do_create_assignment_rule(org, "leads", name="New leads to the sales reps",
                                                           actor=admin)
        assignment_actions.do_add_assignment_entry(rule, actor=admin, criteria=None, method="round_robin",
                                                   pool="users", pool_users=sales)
        assignment_actions.do_activate_assignment_rule(rule, actor=admin)
        rule_actions.do_create_validation_rule(
            org, "deals", name="Discount at most 30%", field="discount",
            criteria={"all": [{"field": "discount", "op": "gt", "value": "30"}]},
            message_en="A discount above 30% is not allowed.", message_zh="折扣不能超过 30%。", actor=admin)
        won = do_create_workflow_rule(
            org, "deals", actor=admin, name="Won deal: invoice and hand over", trigger="field_change",
            trigger_fields=["stage"], trigger_value="won", criteria=None, actions=[
                {"type": "notify", "users": [admin.pk], "message": "Please invoice {{name}} ({{amount}})"},
                {"type": "create_task", "subject": "Hand {{name}} over to Customer Success", "due_in_days": 3,
                 "owner": "record_owner"}])
        do_set_workflow_rule_active(won, True, actor=admin)
        from demo.seed_blueprints import seed_blueprints

        seed_blueprints(org)
        from demo.seed_approvals import seed_approvals

        seed_approvals(org, admin)

    def seed_account_sharing(self, org, admin, heads) -> None:
        """Accounts as a sales organisation keeps them: private (a rep sees their own; the head of
        sales sees the reps' through the role hierarchy), read by marketing (case studies and
        campaigns) and by service (supporting the customers) through sharing rules."""
        from access.actions import do_set_org_default
        from access.sharing_actions import do_create_sharing_rule
        from crm.modules import org_modules

        known = [m.key for m in org_modules()]
        do_set_org_default(org, "accounts", "private", actor=admin)
        for name, target in (("Sales accounts: read by Marketing", heads["mark"]),
                             ("Sales accounts: read by Service", heads["sven"])):
            do_create_sharing_rule(org, "accounts", name=name, owner_kind="role_and_below", owner_role=heads["sam"],
                                   target_kind="role_and_below", target_role=target, access="read", actor=admin,
                                   known_modules=known)

    def seed_access_and_locks(self, org, admin, users, deals) -> None:
        """An org chart, a group and a manual share (the sharing model), and the two classic locks:
        closed deals cannot change, and sales reps cannot change a lead's phone or email."""
        from access.share_actions import do_share_record
        from access.sharing_actions import do_create_group, do_create_role, do_set_user_role
        from locking.actions import (
            do_apply_rule_to_existing, do_create_lock_rule, do_save_field_lock, do_save_lock_config,
        )

        by_name = {u.username: u for u in users}
        heads = {}
        top = do_create_role(org, name="Managing director", actor=admin)
        do_set_user_role(admin.membership, top, actor=admin)
        for head_name, head, team_name, team in (
                ("Head of Sales", "sam", "Sales rep", ["sally", "sergio", "sofia"]),
                ("Head of Marketing", "mark", "Marketer", ["emily", "mia", "max"]),
                ("Head of Service", "sven", "Service agent", ["sara", "simon"])):
            head_role = heads[head] = do_create_role(org, name=head_name, parent=top, actor=admin)
            do_set_user_role(by_name[head].membership, head_role, actor=admin)
            team_role = do_create_role(org, name=team_name, parent=head_role, actor=admin)
            for username in team:
                do_set_user_role(by_name[username].membership, team_role, actor=admin)
        do_create_group(org, name="Key account team", user_ids=[by_name["sam"].pk, by_name["mark"].pk], actor=admin)
        self.seed_account_sharing(org, admin, heads)
        shared = next((d for d in deals if d.owner_id == by_name["sally"].pk), None)
        if shared is not None:
            do_share_record(org, "deals", shared, user=by_name["emily"], access="read", actor=admin)

        do_save_lock_config(org, "deals", enabled=True, actor=admin)
        rule = do_create_lock_rule(org, "deals", name="Closed deals",
                                   criteria={"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]},
                                   restricted_actions=["edit", "delete", "change_owner", "bulk_edit", "import_update"],
                                   editable_fields=["close_date"], actor=admin)
        do_apply_rule_to_existing(rule, actor=admin)
        # For the sales roles (the head of sales and the reps below): a role covers its subordinates.
        do_save_lock_config(org, "leads", enabled=True, actor=admin)
        do_save_field_lock(org, "leads", name="Contact details", fields=["phone", "email"],
                           roles=[heads["sam"].pk], actor=admin)
