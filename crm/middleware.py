import uuid

from .context import request_id_var


class RequestIdMiddleware:
    """Gives each request an id that timeline entries carry, to tie changes to a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        token = request_id_var.set(request_id[:64])
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id[:64]
        return response
