def navigation(request):
    """Whether the navigation shows "Pools": asked only when a page renders it (cached facts)."""
    if getattr(request, "org", None) is None or not request.user.is_authenticated:
        return {}

    def nav_pools() -> bool:
        from access.visibility import is_org_admin

        from .selectors import pool_facts

        facts = pool_facts(request.user)
        return bool(facts) and (is_org_admin(request.user)
                                or any(f["member"] or f["admin"] for f in facts.values()))

    return {"nav_pools": nav_pools}
