from .modules import org_modules


def navigation(request):
    if getattr(request, "org", None) is None:
        return {}
    return {"nav_modules": org_modules()}
