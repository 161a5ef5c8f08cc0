"""How django-allauth fits the app: passwords are set through the access actions (so a forced
change is done and the validators apply), and the messages say what the app means."""
from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.utils.translation import gettext as _

from . import actions

# allauth's message templates the app words its own way.
MESSAGES = {
    "account/messages/password_changed.txt":
        lambda: _("Your password has been changed. Your other sessions have ended."),
}


class AccountAdapter(DefaultAccountAdapter):
    def set_password(self, user: Any, password: str) -> None:
        """A new password from the change page or a reset link: through the action, which also ends
        a forced change (and, by changing the password, the user's other sessions)."""
        actions.do_change_own_password(user, password)

    def add_message(self, request: HttpRequest, level: int, message_template: str | None = None,
                    message_context: dict[str, Any] | None = None, extra_tags: str = "",
                    message: str | None = None) -> None:
        if message_template in MESSAGES:
            message, message_template = MESSAGES[message_template](), None
        super().add_message(request, level, message_template, message_context, extra_tags, message)
