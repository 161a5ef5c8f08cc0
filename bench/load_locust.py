"""The users of bench/load.py (a locustfile; bench/load.py runs it, see there).

Each simulated user is one load user of bench/load_data.py, logged in by a session cookie that
bench/load.py made, and works on its own records only: it edits its own accounts through the edit
form (every field as the form sends it, the record's version included), moves its own deals on
the deals kanban (with the card's version), claims waiting leads of its own share of the pool and
imports small lead files of its own. So an edit conflict, a refused claim or a failed import is a
real failure, and counted as one.

The plan (users, their records, the host) comes from the JSON file named by LOAD_PLAN.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
import sys
import uuid
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.html_forms import alerts, form_fields  # noqa: E402

PLAN = json.loads(open(os.environ["LOAD_PLAN"], encoding="utf-8").read())
SEATS = itertools.count()
STAGES = ["qualification", "proposal", "negotiation"]
SEARCHES = ["Acme", "星辰科技", "上海", "Globex", "深圳"]
LIST_PARAMS = ["", "?sort=name", "?q=星辰", "?page=5", "?sort=-modified_at"]
IMPORT_WAIT_SECONDS = float(os.environ.get("LOAD_IMPORT_WAIT", "120"))


class CrmUser(HttpUser):
    wait_time = between(float(os.environ.get("LOAD_THINK_MIN", "2")), float(os.environ.get("LOAD_THINK_MAX", "6")))

    def on_start(self) -> None:
        seat = next(SEATS) % len(PLAN["users"])
        me = PLAN["users"][seat]
        self.me = me
        self.client.headers.update({"Accept-Language": "en"})
        self.client.cookies.set(PLAN["cookie"], me["session"])
        self.deals = {pk: version for pk, version in me["deals"]}
        self.leads = list(me["leads"])
        self.imports = 0
        self.rng = random.Random(seat)
        self.csrf = ""
        self.get("/my-work/", "My Work")

    # ------------------------------------------------------------------ helpers
    def get(self, path: str, name: str, **kwargs):
        with self.client.get(path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} for {path}")
            self._csrf(response.text)
            return response

    def _csrf(self, html: str) -> None:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html or "")
        if found:
            self.csrf = found.group(1)

    def post(self, path: str, name: str, data, check, **kwargs):
        """POST (following the redirect, as a browser does) and fail unless check(response) is None."""
        headers = {"X-CSRFToken": self.csrf, "Referer": self.host + path, **kwargs.pop("headers", {})}
        with self.client.post(path, data=data, name=name, headers=headers, catch_response=True,
                              **kwargs) as response:
            problem = check(response)
            if problem:
                response.failure(problem)
            elif response.headers.get("Content-Type", "").startswith("text/html"):
                self._csrf(response.text)
            return response

    @staticmethod
    def page_ok(response) -> str | None:
        if response.status_code != 200:
            errors = [t for k, t in alerts(response.text) if k == "danger"] or [response.text[:300]]
            return f"{response.status_code}: {errors[0]}"
        bad = [t for k, t in alerts(response.text) if k == "danger"]
        return f"refused: {bad[0]}" if bad else None

    # ------------------------------------------------------------------ the mix
    @task(6)
    def my_work(self) -> None:
        self.get("/my-work/", "My Work")

    @task(8)
    def lists(self) -> None:
        module = self.rng.choice(["accounts", "accounts", "accounts", "deals", "leads"])
        params = self.rng.choice(LIST_PARAMS) if module == "accounts" else ""
        self.get(f"/m/{module}/{params}", f"list {module}{' ' + params.split('=')[0][1:] if params else ''}")

    @task(8)
    def detail(self) -> None:
        pk = self.rng.choice(self.me["accounts"])
        self.get(f"/m/accounts/{pk}/", "account detail")

    @task(4)
    def edit(self) -> None:
        pk = self.rng.choice(self.me["accounts"])
        path = f"/m/accounts/{pk}/edit/"
        page = self.get(path, "account edit form")
        if page.status_code != 200:
            return
        fields = [(k, v) for k, v in form_fields(page.text) if k != "description"]
        fields.append(("description", f"Visited {time.strftime('%Y-%m-%d %H:%M:%S')} ({uuid.uuid4().hex[:6]})"))
        if not any(k == "version" for k, _ in fields):
            page.failure("the edit form has no version field")
            return
        detail = f"/m/accounts/{pk}/"

        def check(response) -> str | None:
            if response.status_code != 200 or not response.url.endswith(detail):
                errors = [t for k, t in alerts(response.text) if k == "danger"]
                return f"{response.status_code} at {response.url}: {errors[:1] or response.text[:200]}"
            return None

        self.post(path, "account edit (save)", fields, check)

    @task(2)
    def kanban_move(self) -> None:
        self.get("/m/deals/kanban/", "deals kanban")
        pk = self.rng.choice(list(self.deals))
        value = self.rng.choice(STAGES)
        response = self.post(f"/m/deals/kanban/move/{pk}/", "deals kanban move",
                             {"field": "stage", "value": value, "version": self.deals[pk]},
                             lambda r: None if r.status_code == 200 and r.json().get("ok")
                             else f"{r.status_code}: {r.text[:200]}",
                             headers={"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"})
        if response.status_code == 200:
            self.deals[pk] = response.json()["version"]

    @task(4)
    def search(self) -> None:
        self.get(f"/search/?q={self.rng.choice(SEARCHES)}", "global search")

    @task(2)
    def claim(self) -> None:
        pool = f"/pools/{PLAN['pool']}/"
        self.get(pool, "pool list")
        if not self.leads:
            return
        lead = self.leads.pop(0)

        def check(response) -> str | None:
            problem = self.page_ok(response)
            if problem is None and not any(k == "success" for k, _ in alerts(response.text)):
                return "no confirmation of the claim"
            return problem

        self.post("/pools/claim/", "pool claim", {"module": "leads", "ids": str(lead), "next": pool}, check)

    @task(1)
    def import_leads(self) -> None:
        self.get("/m/leads/import/", "import history")
        self.imports += 1
        tag = uuid.uuid4().hex[:8]
        rows = ["First name,Last name,Company,Email,Phone,Status,Source"]
        for i in range(10):
            rows.append(f"Li{i},Wang,Load {tag} Ltd,{tag}.{i}@load.example,+86137{self.rng.randrange(10**8):08d},"
                        "new,web")
        upload = self.post("/m/leads/import/", "import upload", {"encoding": ""},
                           lambda r: None if r.status_code == 200 and "/mapping/" in r.url
                           else f"{r.status_code} at {r.url}: {alerts(r.text)[:1] or r.text[:200]}",
                           files={"file": (f"leads-{tag}.csv", "\n".join(rows).encode(), "text/csv")})
        if upload.status_code != 200 or "/mapping/" not in upload.url:
            return
        mapping = upload.url.split(self.host, 1)[-1]
        job = mapping.removesuffix("mapping/")
        self.post(mapping, "import mapping (save)", form_fields(upload.text, "mapping-form"),
                  lambda r: None if r.status_code == 200 and r.url.endswith(job) else f"{r.status_code} at {r.url}")
        if self.wait_for(job, "checked") != "checked":
            return
        self.post(f"{job}confirm/", "import confirm", {}, lambda r: None if r.status_code == 200 else str(r.status_code))
        self.wait_for(job, "done")

    def wait_for(self, job: str, wanted: str) -> str:
        """Poll the job's progress as the page does (htmx, every second) until it is `wanted`."""
        deadline = time.monotonic() + IMPORT_WAIT_SECONDS
        status = ""
        while time.monotonic() < deadline:
            time.sleep(1)
            with self.client.get(job, name="import progress (poll)", headers={"HX-Request": "true"},
                                 catch_response=True) as response:
                found = re.search(r'data-status="([a-z_]+)"', response.text or "")
                status = found.group(1) if found else ""
                if response.status_code != 200 or status == "failed":
                    response.failure(f"{response.status_code}, status {status}: {alerts(response.text)[:1]}")
                    return status
                if status == wanted:
                    warn = [t for k, t in alerts(response.text) if k in ("warning", "danger")]
                    if warn:
                        response.failure(f"import {status} with: {warn[0]}")
                    return status
        self.environment.events.request.fire(
            request_type="GET", name="import progress (poll)", response_time=IMPORT_WAIT_SECONDS * 1000,
            response_length=0, exception=RuntimeError(f"still {status!r}, not {wanted!r}, after "
                                                      f"{IMPORT_WAIT_SECONDS:.0f} s"), context={})
        return status
