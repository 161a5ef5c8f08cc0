from . import roles
from .models import TeamModule


def team_navigation(request):
    """Team modules in the navigation: those of the user's spaces (all for team-modules admins)."""
    user = getattr(request, "user", None)
    if getattr(request, "org", None) is None or user is None:
        return {}
    modules = TeamModule.objects.filter(org=request.org, retired=False).select_related("space")
    if not roles.is_team_modules_admin(user):
        modules = modules.filter(space_id__in=list(roles.team_roles(user)))
    return {"nav_team_modules": modules.order_by("space__name_en", "name_en")}
