from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = _("Access")

    def ready(self) -> None:
        from . import seal  # noqa: F401  (binds new connections)
        from .seal_policies import after_migrate

        # Once per migrate (sent for every app; ours is enough): every table that exists by then is sealed.
        post_migrate.connect(after_migrate, sender=self, dispatch_uid="access.seal_policies")
