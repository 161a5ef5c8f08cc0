"""A recycled record's reason is stored as a code with its parameters and shown in the reader's
language: the pool history and the timeline entry read "No follow-up for 10 days" in English and
"10 天未跟进" in Chinese. Rows written before (the English sentence stored) still read, translated
when they are one of the recycling sentences, as stored otherwise."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import translation

from access.actions import do_set_language
from crm.models import Lead, TimelineEntry
from pool import actions
from pool.models import PoolMove, PoolState
from pool.reasons import coded, reason_text
from pool.recycle_actions import do_save_recycle_policy, run_recycling
from tests.helpers import fresh
from tests.pool.conftest import make_pool, waiting_leads

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
ENGLISH = "No follow-up for 10 days"
CHINESE = "10 天未跟进"


@pytest.fixture
def recycled(admin_user, sally):
    """A lead Sally claimed and left without a follow-up for 10 days: back in the pool."""
    with time_machine.travel(START, tick=False) as clock:
        pool = make_pool(admin_user, members=[sally])
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 10}}, warn_days=0)
        lead = waiting_leads(admin_user, pool, 1)[0]
        actions.do_claim_records("leads", [lead.pk], actor=fresh(sally))
        clock.shift(10 * DAY + dt.timedelta(hours=1))
        assert run_recycling()["recycled"] == 1
    return Lead.objects.get(pk=lead.pk)


def entry_of(lead):
    return TimelineEntry.objects.get(record_type=ContentType.objects.get_for_model(Lead), record_id=lead.pk,
                                     kind="pool_recycled")


def reasons_on_page(client, lead) -> tuple[str, str]:
    """(the pool history's reason, the page's text) of the record page."""
    page = client.get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
    start = page.index('data-testid="pool-move-reason">') + len('data-testid="pool-move-reason">')
    return page[start:page.index("</div>", start)], page


@pytest.mark.django_db
def test_the_reason_is_stored_as_a_code_with_its_days_and_no_sentence(recycled):
    move = PoolMove.objects.get(record_id=recycled.pk, kind="recycled")
    assert move.coded_reason == {"code": "recycle_no_follow_up", "days": 10} and move.reason == ""
    assert entry_of(recycled).changes["reason"] == [None, {"code": "recycle_no_follow_up", "days": 10}]
    state = PoolState.objects.get(record_id=recycled.pk, module="leads")
    assert state.entered_how == "recycled" and state.entry_reason == ""
    stored = json.dumps([move.coded_reason, move.reason, entry_of(recycled).changes, state.entry_reason],
                        ensure_ascii=False)
    assert "follow-up" not in stored and "跟进" not in stored


@pytest.mark.django_db
def test_an_english_reader_reads_english_and_a_chinese_reader_chinese(recycled, admin_user, sally, client_for):
    history, page = reasons_on_page(client_for(admin_user), recycled)
    assert history == ENGLISH and page.count(ENGLISH) == 2 and CHINESE not in page  # history and timeline
    do_set_language(sally, "zh-hans")
    history, page = reasons_on_page(client_for(fresh(sally)), recycled)
    assert history == CHINESE and page.count(CHINESE) == 2 and ENGLISH not in page


@pytest.mark.django_db
def test_rows_stored_before_codes_still_read_and_recycling_sentences_are_translated(
        recycled, admin_user, sally, client_for):
    # What an older version stored: the English sentence (written here as it did, not through an action).
    move = PoolMove.objects.get(record_id=recycled.pk, kind="recycled")
    PoolMove.objects.filter(pk=move.pk).update(coded_reason=None, reason="No deal within 30 days of the claim")
    entry = entry_of(recycled)
    TimelineEntry.objects.filter(pk=entry.pk).update(
        changes={**entry.changes, "reason": [None, "No deal within 30 days of the claim"]})
    history, page = reasons_on_page(client_for(admin_user), recycled)
    assert history == "No deal within 30 days of the claim" and page.count(history) == 2
    do_set_language(sally, "zh-hans")
    history, page = reasons_on_page(client_for(fresh(sally)), recycled)
    assert history == "认领后 30 天内未创建商机" and page.count(history) == 2
    # Any other text (a person's words) is shown as it was written, in every language.
    PoolMove.objects.filter(pk=move.pk).update(reason="客户已搬走 moved away")
    history, _page = reasons_on_page(client_for(fresh(sally)), recycled)
    assert history == "客户已搬走 moved away"


def test_reason_text_renders_codes_in_the_active_language():
    reason = coded("recycle_not_won", days=90)
    with translation.override("en"):
        assert reason_text(reason) == "Not won within 90 days of the claim"
        assert reason_text(coded("recycle_no_deal", days=7)) == "No deal within 7 days of the claim"
        assert reason_text({"code": "gone_code", "days": 1}) == "gone_code"  # a code no longer known
        assert reason_text({"code": "recycle_no_deal"}) == "recycle_no_deal"  # its days missing
        assert reason_text("Wrong region") == "Wrong region" and reason_text(None) == ""
    with translation.override("zh-hans"):
        assert reason_text(reason) == "认领后 90 天内未赢单"
        assert reason_text("No follow-up for 3 days") == "3 天未跟进"
    with pytest.raises(ValueError):
        coded("no_such_reason", days=1)
