"""The modules the access settings pages list (profile grids, field levels, the access log).

`access` knows no module schemas: the app that defines modules (crm) registers a provider at
start-up (`AppConfig.ready`), as it registers grant providers and the criteria compiler.
A module needs `key`, `label_plural` and `bind(org)` (a bound schema with `fields`).
"""
from __future__ import annotations

from typing import Any, Callable

ModuleProvider = Callable[[], list[Any]]
_module_providers: list[ModuleProvider] = []


def register_module_provider(provider: ModuleProvider) -> None:
    if provider not in _module_providers:
        _module_providers.append(provider)


def settings_modules() -> list[Any]:
    """Every registered module, in the providers' order."""
    return [module for provider in _module_providers for module in provider()]
