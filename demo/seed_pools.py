"""The demo's customer pools (公海): "China East" for leads and "China East accounts", the sales
reps (Sally among them) members, Sam their administrator; some records already wait in each (the
accounts with a buyer each, who waits with them)."""
from __future__ import annotations

from typing import Any

from crm import actions
from pool.actions import do_release_records, do_save_pool

CITIES = ("Shanghai", "Hangzhou", "Nanjing", "Suzhou", "Ningbo")
COMPANIES = ("Donghai Trading", "Jiangnan Textiles", "Xihu Tea House", "Qiantang Robotics", "Taihu Foods",
             "Huangpu Logistics", "Yangtze Pharma", "Lujiazui Capital")


def seed_pools(org: Any, admin: Any, users: list, rng: Any, count: int = 12) -> None:
    sales = [u for u in users if u.membership.department == "Sales"] or users
    heads = [u for u in users if u.username == "sam"]
    leads_pool = do_save_pool(org, actor=admin, name="China East", module="leads",
                              masked_fields=["phone", "email"], members={"users": sales}, admins=heads,
                              capacity=60, daily_claims=10, cooldown_days=7, embargo_hours=0,
                              capacity_counts_won=False, release_on_deactivation=True)
    accounts_pool = do_save_pool(org, actor=admin, name="China East accounts", module="accounts",
                                 masked_fields=["phone"], members={"users": sales}, admins=heads,
                                 capacity=80, daily_claims=5, cooldown_days=14, embargo_hours=0)
    leads = [actions.do_create_record("leads", {
        "first_name": rng.choice(("Wei", "Fang", "Lei", "Min", "Jun")), "last_name": rng.choice(("Zhang", "Wang", "Li", "Zhao")),
        "company": f"{rng.choice(COMPANIES)} {i + 1}", "email": f"buyer{i + 1}@east.example.cn",
        "phone": f"138{rng.randint(1000, 9999)}{rng.randint(1000, 9999)}", "source": "web",
    }, actor=admin, path="system") for i in range(count)]
    do_release_records("leads", [lead.pk for lead in leads], leads_pool.pk, actor=admin, path="system",
                       reason="Web enquiries from the East region, not yet followed up")
    accounts = [actions.do_create_record("accounts", {
        "name": f"{rng.choice(COMPANIES)} Group {i + 1}", "city": rng.choice(CITIES), "country": "China",
        "phone": f"+86 21 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
    }, actor=admin, path="system") for i in range(max(3, count // 2))]
    for account in accounts:  # their buyers go into the pool with them
        actions.do_create_record("contacts", {
            "first_name": rng.choice(("Hui", "Ling", "Tao", "Yan")), "last_name": rng.choice(("Chen", "Liu", "Sun")),
            "account": account.pk, "title": "Purchasing", "phone": f"139{rng.randint(1000, 9999)}{rng.randint(1000, 9999)}",
            "email": f"buyer@{account.pk}.east.example.cn"}, actor=admin, path="system")
    do_release_records("accounts", [a.pk for a in accounts], accounts_pool.pk, actor=admin, path="system",
                       reason="Dormant customers returned for the East team")
