"""Per-request context that the layers above read (kept here, at the bottom, so `access` needs
nothing from `crm`)."""
from contextvars import ContextVar

# The id of the request being served (set by crm's RequestIdMiddleware): timeline entries and
# audit entries carry it, to tie changes to one request.
request_id_var: ContextVar[str] = ContextVar("request_id", default="")
