from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = _("Security")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the login, logout and lockout receivers)
        from . import password_signals  # noqa: F401  (allauth's password changes and resets)
        from . import two_factor_signals  # noqa: F401  (and allauth's two-factor changes)
