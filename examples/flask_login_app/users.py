"""The example's users, for Flask-Login (``User``) and for the guard (``load_identity``)."""

from __future__ import annotations

from typing import Any

from flask_login import UserMixin

from examples.demo_users import USERS


class User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


def load_user(user_id: str) -> User | None:
    """Flask-Login's user_loader."""
    return User(user_id) if user_id in USERS else None


def load_identity(subject: str) -> dict[str, Any] | None:
    """The guard's identity loader: current roles and tenants of a user (None: unknown)."""
    user = USERS.get(subject)
    return None if user is None else {"roles": list(user.roles), "tenants": list(user.tenants)}
