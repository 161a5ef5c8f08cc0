from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.password_validation import validate_password
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .actions import EMAIL_TAKEN, do_sign_up, email_taken
from .models import Membership, Organization, User


class LoginForm(AllauthLoginForm):
    """allauth's login form with the app's field names: `username` and `password` (what password
    managers, the lockout page and django-axes read)."""

    FIELD_NAMES = {"login": "username"}

    def add_prefix(self, field_name: str) -> str:
        return super().add_prefix(self.FIELD_NAMES.get(field_name, field_name))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        login = self.fields["login"]
        login.widget.attrs.pop("placeholder", None)
        # A name longer than any username is a failed login (counted by django-axes, cut to 150
        # characters), not a form error that would let guesses go uncounted.
        login.max_length = None
        login.validators = [v for v in login.validators if not isinstance(v, MaxLengthValidator)]
        self.fields["password"].widget.attrs.pop("placeholder", None)
        self.fields["password"].help_text = ""  # the page links to the password reset itself


class SignUpForm(AllauthSignupForm):
    """A new organisation and its first administrator (access.actions.do_sign_up); allauth then
    sends the link that verifies the e-mail address."""

    org_name = forms.CharField(label=_("Organisation name"), max_length=200)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)

    field_order = ["org_name", "username", "first_name", "last_name", "email", "password"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The password field keeps the app's name, `password` (allauth's is `password1`).
        fields = {("password" if name == "password1" else name): field for name, field in self.fields.items()}
        self.fields = {name: fields[name] for name in self.field_order if name in fields}
        for field in self.fields.values():
            field.widget.attrs.pop("placeholder", None)
        self.fields["password"].help_text = ""
        self.fields["email"].label = _("Email")

    def clean_password(self) -> str:
        """The password validators, with the username and address typed (12 characters and more)."""
        password = self.cleaned_data["password"]
        candidate = User(username=self.data.get("username", ""), email=self.data.get("email", ""))
        get_adapter().clean_password(password, user=candidate)
        return password

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is already taken."))
        self.cleaned_data["username"] = username
        return super().clean_username()

    def validate_unique_email(self, value: str) -> str:
        """Refused with a message (allauth would quietly e-mail the address's owner instead): one
        organisation's administrator per address."""
        if email_taken(value):
            raise forms.ValidationError(EMAIL_TAKEN)
        return value

    def save(self, request: HttpRequest) -> User:
        data = self.cleaned_data
        language = getattr(request, "LANGUAGE_CODE", "") or "en"
        membership = do_sign_up(org_name=data["org_name"], username=data["username"], email=data["email"],
                                password=data["password"], first_name=data.get("first_name", ""),
                                last_name=data.get("last_name", ""),
                                language=language if language in ("en", "zh-hans") else "en",
                                email_verified=False)
        return membership.user


class ChangePasswordForm(PasswordChangeForm):
    """A user changes their own password: the current one, then the new one twice (checked by the
    password validators). Saved through allauth's adapter (access.account_adapter)."""

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)

    def save(self, commit: bool = True) -> Any:
        get_adapter().set_password(self.user, self.cleaned_data["new_password1"])
        return self.user


class AddUserForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"))
    department = forms.CharField(label=_("Department"), max_length=100, required=False)
    role = forms.ChoiceField(label=_("Org role"), choices=Membership.Role.choices, initial=Membership.Role.STANDARD)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is already taken."))
        return username

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        if email_taken(email):
            raise forms.ValidationError(EMAIL_TAKEN)
        return email

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


class TwoFactorPolicyForm(forms.Form):
    policy = forms.ChoiceField(label=_("Two-factor authentication required for"),
                               choices=Organization.TwoFactorPolicy.choices, widget=forms.RadioSelect)


class SetPasswordForm(forms.Form):
    """An administrator sets a user's password (checked by the action against the validators)."""
    password = forms.CharField(label=_("New password"), widget=forms.PasswordInput, strip=False)
    must_change = forms.BooleanField(label=_("Must change the password at next login"), required=False, initial=True)
