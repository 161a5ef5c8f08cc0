"""Tenancy, users and THE visibility function (`access.visible`)."""

_EXPORTS = {"visible", "get_record", "can", "bind_org", "register_grant_provider", "is_org_admin"}


def __getattr__(name):
    # Lazy re-exports, so `access.visible(...)` works without importing models at app load.
    if name not in _EXPORTS:
        raise AttributeError(name)
    from . import visibility

    return getattr(visibility, name)
