from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from .models import Membership, User


class SignUpForm(forms.Form):
    org_name = forms.CharField(label=_("Organisation name"), max_length=200)
    username = forms.CharField(label=_("Username"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is already taken."))
        return username

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


class AddUserForm(SignUpForm):
    department = forms.CharField(label=_("Department"), max_length=100, required=False)
    role = forms.ChoiceField(label=_("Org role"), choices=Membership.Role.choices, initial=Membership.Role.STANDARD)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput)

    field_order = ["username", "first_name", "last_name", "email", "department", "role", "password"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["org_name"]


class SetPasswordForm(forms.Form):
    """An administrator sets a user's password (checked by the action against the validators)."""
    password = forms.CharField(label=_("New password"), widget=forms.PasswordInput, strip=False)
    must_change = forms.BooleanField(label=_("Must change the password at next login"), required=False, initial=True)
