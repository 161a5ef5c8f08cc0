import pytest
from crm import actions
from crm.guards import GuardRefusal
from tests.factories import DealFactory
from tests.locking.conftest import WON
from locking.models import RecordLock
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def test_smoke(enable, add_rule, rep, exempt, admin_user):
    enable("deals")
    add_rule("deals", "Closed deals", WON)
    deal = DealFactory(actor=rep, stage="won")
    assert RecordLock.objects.filter(record_id=deal.pk).count() == 1
    with pytest.raises(GuardRefusal) as exc:
        actions.do_update_record(deal, {"name": "x"}, version=version_of(deal), actor=rep)
    assert "Closed deals" in str(exc.value)
