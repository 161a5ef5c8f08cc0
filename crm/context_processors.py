from access.decisions import decide_module

from .modules import org_modules


def navigation(request):
    """Org modules in the navigation: those the user may open."""
    if getattr(request, "org", None) is None or not request.user.is_authenticated:
        return {}
    return {"nav_modules": [m for m in org_modules() if decide_module(request.user, m, "open")]}
