from django.db import migrations

PERMISSIONS = ("create", "view", "edit", "delete", "import", "export", "manage")
ALL = {p: True for p in PERMISSIONS}
DEFAULT_PROFILES = {
    "Administrator": {"*": ALL},
    "Standard": {"*": {**ALL, "manage": False}},
    "Read-only": {"*": {p: p in ("view", "export") for p in PERMISSIONS}},
}


def add_profiles(apps, schema_editor):
    """Organisations created before profiles existed get the shipped ones."""
    Organization = apps.get_model("access", "Organization")
    Profile = apps.get_model("access", "Profile")
    Membership = apps.get_model("access", "Membership")
    for org in Organization.objects.all():
        profiles = {}
        for name, permissions in DEFAULT_PROFILES.items():
            profiles[name], _ = Profile.objects.get_or_create(
                org=org, name=name, defaults={"permissions": permissions, "is_system": True})
        Membership.objects.filter(org=org, profile__isnull=True, role="admin").update(profile=profiles["Administrator"])
        Membership.objects.filter(org=org, profile__isnull=True).update(profile=profiles["Standard"])


class Migration(migrations.Migration):
    dependencies = [("access", "0004_orgrole_group_membership_org_role_profile_and_more")]
    operations = [migrations.RunPython(add_profiles, migrations.RunPython.noop)]
