from .models import Membership


def org_context(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "current_org": request.org,
        "current_membership": membership,
        "is_org_admin": membership.is_admin,
        "other_memberships": Membership.objects.filter(user=request.user, is_active=True)
        .exclude(pk=membership.pk)
        .select_related("org"),
    }
