"""Demo data for the Django example: the tables and three users (development only)."""

from __future__ import annotations

DEMO_USERS = {"alice": ("alice-pass", False), "bob": ("bob-pass", False), "root": ("root-pass", True)}


def setup() -> None:
    """Create the tables and the demo users (alice, bob; root in the ``admin`` group)."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    admins, _ = Group.objects.get_or_create(name="admin")
    for name, (password, admin) in DEMO_USERS.items():
        if User.objects.filter(username=name).exists():
            continue
        user = User.objects.create_user(name, password=password)
        if admin:
            user.groups.add(admins)
