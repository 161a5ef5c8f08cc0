"""factory_boy factories for org records. They create through `crm.actions.do_create_record`,
as a person would, so every record has its timeline entry and passes the same checks.

    account = AccountFactory(actor=admin_user)                       # name "Account 0"
    deal = DealFactory(actor=standard_user, account=account, amount="100")
    task = TaskFactory(actor=admin_user, owner=standard_user, assignee=other_user.pk)

Extra keyword arguments are field values (by key or API name, custom fields included);
`actor` is required, `owner` and `path` are passed to the action.
"""
from __future__ import annotations

from typing import Any

import factory

from crm.actions import do_create_record
from crm.models import Account, Contact, Deal, Lead, Task


class RecordFactory(factory.Factory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, actor: Any = None, owner: Any = None, path: str = "page",
                **data: Any) -> Any:
        if actor is None:
            raise TypeError(f"{cls.__name__} needs actor=<a bound user>")
        data = {key: getattr(value, "pk", value) for key, value in data.items()}
        return do_create_record(model_class.MODULE_KEY, data, actor=actor, owner=owner, path=path)

    @classmethod
    def _build(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("records are only made through the actions; use create()")


class AccountFactory(RecordFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")


class ContactFactory(RecordFactory):
    class Meta:
        model = Contact

    last_name = factory.Sequence(lambda n: f"Contact {n}")


class LeadFactory(RecordFactory):
    class Meta:
        model = Lead

    last_name = factory.Sequence(lambda n: f"Lead {n}")


class DealFactory(RecordFactory):
    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")


class TaskFactory(RecordFactory):
    class Meta:
        model = Task

    subject = factory.Sequence(lambda n: f"Task {n}")


FACTORIES = {"accounts": AccountFactory, "contacts": ContactFactory, "leads": LeadFactory, "deals": DealFactory,
             "tasks": TaskFactory}
