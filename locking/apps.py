from django.apps import AppConfig


class LockingConfig(AppConfig):
    name = "locking"
