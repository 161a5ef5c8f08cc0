"""Tenancy, users, THE visibility function (`access.visible`) and THE decision point (`access.decide`)."""

_EXPORTS = {
    "visibility": {"visible", "get_record", "can", "bind_org", "register_grant_provider", "is_org_admin"},
    "decisions": {"decide", "decide_many", "decide_module", "decide_page", "Decision", "GuardRefusal"},
}


def __getattr__(name):
    # Lazy re-exports, so `access.visible(...)` works without importing models at app load.
    from importlib import import_module

    for module, names in _EXPORTS.items():
        if name in names:
            return getattr(import_module(f"{__name__}.{module}"), name)
    raise AttributeError(name)
