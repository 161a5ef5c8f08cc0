# The request id lives in access (the bottom layer) so the audit log can read it too.
from access.context import request_id_var

__all__ = ["request_id_var"]
