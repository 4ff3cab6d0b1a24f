"""The ``[auth]`` settings: bearer JWTs (one or several issuers), session cookies, signed cookies,
API keys and custom backends.

Validation only: the backends are built by :mod:`routeguard.policy.build`, which reads the
secrets and key files. Secrets never appear in reprs, logs or error messages.
"""

# No ``from __future__ import annotations`` in the policy models (an exception to the house
# style, for start-up): pydantic reads each field's annotation when the class is created, and a
# string annotation costs it a compile and an eval per field (~9M instructions over the three
# modules, issue 16). Forward references in method signatures are quoted instead.

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, SecretStr, StrictBool, Tag, field_validator, model_validator

from ..backends.keys import HMAC, algorithm_family, parse_key_digest
from ..core.names import check_claim_name
from .settings import Deferred, Model, check_ref, cookie_name, resolve_path

_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")


class BearerConfig(Model):
    """``[auth.bearer]``: JWTs in ``Authorization: Bearer``."""

    algorithms: list[str]
    secret_env: str | None = None
    secret: SecretStr | None = None
    public_key_file: Path | None = None
    public_key: str | None = None
    jwks_url: str | None = None
    jwks_min_refresh: float = Field(default=60, ge=1)
    jwks_max_age: float = Field(default=3600, ge=1)
    jwks_timeout: float = Field(default=3, gt=0, le=30)
    audience: str | list[str] | None = None
    issuer: str | list[str] | None = None
    leeway: float = Field(default=0, ge=0, le=300)
    require_exp: StrictBool = True
    subject_claim: str = "sub"
    roles_claim: str = "roles"
    permissions_claim: str = "scope"
    tenants_claim: str = "tenants"
    max_header_bytes: int = Field(default=8192, ge=256, le=65536)
    cache_size: int = Field(default=10_000, ge=0)
    cache_bytes: int = Field(default=32 << 20, ge=0)  # verified tokens cached, bounded in bytes too
    cookie: str | None = None
    csrf_cookie: str | None = None
    csrf_header: str | None = None
    websocket_subprotocol: StrictBool = False

    @field_validator("public_key_file")
    @classmethod
    def _key_path(cls, path: Path | None) -> Path | None:
        return resolve_path(path) if path is not None else None

    @field_validator("cookie", "csrf_cookie")
    @classmethod
    def _cookie_name(cls, name: str | None) -> str | None:
        return None if name is None else cookie_name(name)

    @field_validator("csrf_header")
    @classmethod
    def _header_name(cls, name: str | None) -> str | None:
        if name is not None and not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a header name such as 'X-CSRF-TOKEN'")
        return name

    @model_validator(mode="after")
    def _double_submit(self) -> "BearerConfig":
        if (self.csrf_cookie is None) != (self.csrf_header is None):
            raise ValueError("csrf_cookie and csrf_header turn on the double submit together; give both")
        if self.csrf_cookie is not None and self.cookie is None:
            raise ValueError("csrf_cookie needs cookie (the token cookie it protects)")
        return self

    @field_validator("subject_claim", "roles_claim", "permissions_claim", "tenants_claim")
    @classmethod
    def _claim_name(cls, name: str) -> str:
        return check_claim_name(name, "claim")

    @model_validator(mode="after")
    def _one_key(self) -> "BearerConfig":
        family = algorithm_family(self.algorithms)
        keys = ("secret_env", "secret", "public_key_file", "public_key", "jwks_url")
        sources = [k for k in keys if getattr(self, k)]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one key source: secret_env (HS*), public_key_file or jwks_url (RS*/PS*/ES*/EdDSA)"
                + (f"; got {', '.join(sources)}" if sources else "")
            )
        if family == HMAC and sources[0] in ("public_key_file", "public_key"):
            raise ValueError(f"{sources[0]} cannot verify {', '.join(self.algorithms)}; use secret_env")
        if family != HMAC and sources[0] in ("secret_env", "secret"):
            raise ValueError(
                f"{sources[0]} cannot verify {', '.join(self.algorithms)}; use public_key_file or jwks_url"
            )
        return self


#: Session formats read by a framework integration: format -> "module:factory", imported only when
#: a policy uses it. ``factory(config, store)`` returns the backend. Django's format reads Django's
#: own settings (secret, engine, cookie name); Flask-Login's takes a secret like "flask" or, wired
#: through ``routeguard.integrations.flask.RouteGuard(app)``, the app's ``secret_key``.
INTEGRATION_SESSION_FORMATS: dict[str, str] = {
    "django": "routeguard.integrations.django:session_backend",
    "flask-login": "routeguard.integrations.flask:session_backend",
    "litestar": "routeguard.integrations.litestar:session_backend",
    "pyramid": "routeguard.integrations.pyramid:session_backend",
}
_SECRET_OPTIONAL = frozenset({"server", "django", "flask-login"})


class SessionConfig(Model):
    """``[auth.session]``: the signed session cookie of Starlette or Flask, server-side sessions
    (``format = "server"``: an opaque id in the cookie, the data in the store), or a framework's
    own login (``"django"``, ``"flask-login"``, ``"litestar"``, ``"pyramid"``: see
    :data:`INTEGRATION_SESSION_FORMATS`)."""

    format: Literal["starlette", "flask", "server", "django", "flask-login", "litestar", "pyramid"] = "starlette"
    secret_env: str | None = None
    secret: SecretStr | None = None
    fallback_secret_envs: list[str] = []
    cookie: str = "session"
    max_age: int | None = Field(default=None, gt=0)
    user_key: str = "user_id"
    roles_key: str = "roles"
    permissions_key: str = "permissions"
    tenants_key: str = "tenants"
    idle_timeout: int = Field(default=1800, gt=0)
    secure: StrictBool = True
    same_site: Literal["lax", "strict"] = "lax"
    salt: str | None = None  # format = "pyramid" only (SignedCookieSessionFactory's salt)
    hashalg: Literal["sha1", "sha224", "sha256", "sha384", "sha512"] | None = None  # likewise

    @field_validator("user_key", "roles_key", "permissions_key", "tenants_key")
    @classmethod
    def _key_name(cls, name: str) -> str:
        return check_claim_name(name, "key")

    @model_validator(mode="after")
    def _secrets_match_format(self) -> "SessionConfig":
        given = self.secret_env or self.secret or self.fallback_secret_envs
        pyramid_only = [name for name in ("hashalg", "salt") if getattr(self, name) is not None]
        if pyramid_only and self.format != "pyramid":
            raise ValueError(f"{', '.join(pyramid_only)}: only for format = 'pyramid'")
        if self.format == "server":
            if given:
                raise ValueError("format = 'server' needs no secret: the cookie holds a random id")
        elif self.format == "django":
            named = sorted({"secret_env", "secret", "fallback_secret_envs", "cookie", "max_age",
                            "user_key"} & self.model_fields_set)
            if named:
                raise ValueError(f"format = 'django' reads Django's own settings (SECRET_KEY, SESSION_ENGINE, "
                                 f"SESSION_COOKIE_NAME, SESSION_COOKIE_AGE); remove {', '.join(named)}")
        elif self.secret_env is not None and self.secret is not None:
            raise ValueError("give only one of secret_env or secret (the app's session secret)")
        elif self.format not in _SECRET_OPTIONAL and self.secret_env is None and self.secret is None:
            raise ValueError("give exactly one of secret_env or secret (the app's session secret)")
        return self


class SignedCookieConfig(Model):
    """``[auth.signed_cookie]``: a cookie the app signs with itsdangerous (datasette's
    ``ds_actor``: ``salt = "actor"``, ``subject = "a.id"``); paths are dotted into the value."""

    cookie: str
    secret_env: str
    fallback_secret_envs: list[str] = []
    salt: str = "itsdangerous"
    serializer: Literal["url_safe", "url_safe_timed"] = "url_safe"
    max_age: int | None = Field(default=None, gt=0)
    key_derivation: Literal["django-concat", "concat", "hmac", "none"] = "django-concat"
    digest: Literal["sha1", "sha256", "sha384", "sha512"] = "sha1"
    subject: str = "id"
    roles: str = "roles"
    permissions: str = "permissions"
    tenants: str = "tenants"

    @field_validator("subject", "roles", "permissions", "tenants")
    @classmethod
    def _path(cls, name: str) -> str:
        return check_claim_name(name, "path")

    @field_validator("cookie")
    @classmethod
    def _cookie_name(cls, name: str) -> str:
        return cookie_name(name)

    @model_validator(mode="after")
    def _age_matches_serializer(self) -> "SignedCookieConfig":
        if self.serializer == "url_safe_timed" and self.max_age is None:
            raise ValueError("max_age is required with serializer = 'url_safe_timed'")
        if self.serializer == "url_safe" and self.max_age is not None:
            raise ValueError("max_age needs serializer = 'url_safe_timed' (an untimed cookie has no timestamp)")
        return self


class APIKeyEntry(Model):
    """One ``[[auth.api_key.keys]]`` entry: the key's hash and who it stands for."""

    hash: str
    subject: str
    roles: list[str] = []
    permissions: list[str] = []
    tenants: list[str] = []

    @field_validator("hash")
    @classmethod
    def _digest(cls, value: str) -> str:
        parse_key_digest(value)
        return value


class APIKeyConfig(Model):
    """``[auth.api_key]``: keys in a header, listed here or in ``keys_file`` (TOML, ``[[keys]]``)."""

    header: str = "X-API-Key"
    keys: list[APIKeyEntry] = []
    keys_file: Path | None = None

    @field_validator("keys_file")
    @classmethod
    def _keys_path(cls, path: Path | None) -> Path | None:
        return resolve_path(path) if path is not None else None

    @model_validator(mode="after")
    def _some_keys(self) -> "APIKeyConfig":
        if not self.keys and self.keys_file is None:
            raise ValueError("list keys ([[auth.api_key.keys]]) or name a keys_file")
        return self


#: Where a request is searched for its bearer token: the same for every issuer.
TRANSPORT_KEYS = ("cookie", "csrf_cookie", "csrf_header", "max_header_bytes", "websocket_subprotocol")

BACKEND_NAMES = ("bearer", "session", "signed_cookie", "api_key", "custom")


#: Tags of the two ``[auth.bearer]`` shapes; error messages leave them out of key paths.
ONE_TABLE, TABLES = "<table>", "<tables>"
Bearers = Annotated[
    Annotated[BearerConfig, Tag(ONE_TABLE)] | Annotated[list[BearerConfig], Tag(TABLES)],
    Discriminator(lambda value: TABLES if isinstance(value, list) else ONE_TABLE),
]


class AuthConfig(Model):
    """``[auth]``: authentication backends, tried in the order they are written, plus the
    optional identity loader that reloads the current user by subject."""

    bearer: Bearers | None = None
    session: Annotated[SessionConfig, Deferred()] | None = None
    signed_cookie: Annotated[SignedCookieConfig, Deferred()] | None = None
    api_key: Annotated[APIKeyConfig, Deferred()] | None = None
    custom: list[Any] = []
    order: list[Literal["bearer", "session", "signed_cookie", "api_key", "custom"]] | None = None
    identity_loader: Any = None
    identity_cache_ttl: float = Field(default=30, ge=0, le=3600)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> "AuthConfig":
        model: AuthConfig = handler(data)
        if model.order is None and isinstance(data, Mapping):
            written = [k for k in data if k in BACKEND_NAMES and data[k]]
            object.__setattr__(model, "order", written)
        return model

    @field_validator("identity_loader")
    @classmethod
    def _loader_ref(cls, value: Any) -> Any:
        return check_ref(value)

    @field_validator("bearer")
    @classmethod
    def _issuers(cls, bearer: BearerConfig | list[BearerConfig] | None) -> BearerConfig | list[BearerConfig] | None:
        if not isinstance(bearer, list):
            return bearer
        if not bearer:
            raise ValueError("[[auth.bearer]] needs at least one table")
        seen: set[str] = set()
        for config in bearer:
            issuers = [config.issuer] if isinstance(config.issuer, str) else list(config.issuer or ())
            if not issuers:
                raise ValueError("with several [[auth.bearer]] tables, each names its issuer (issuer = ...)")
            for issuer in issuers:
                if issuer in seen:
                    raise ValueError(f"issuer {issuer!r} appears in two [[auth.bearer]] tables")
                seen.add(issuer)
        for key in TRANSPORT_KEYS:  # one request is searched once for its token
            values = {repr(getattr(config, key)) for config in bearer}
            if len(values) > 1:
                raise ValueError(f"{key} must be the same in every [[auth.bearer]] table")
        return bearer

    @property
    def bearers(self) -> list[BearerConfig]:
        """The ``[auth.bearer]`` table(s) as a list (one per issuer)."""
        if self.bearer is None:
            return []
        return self.bearer if isinstance(self.bearer, list) else [self.bearer]

    @model_validator(mode="after")
    def _order_names_configured(self) -> "AuthConfig":
        for name in self.order or ():
            if not getattr(self, name):
                raise ValueError(f"order names {name!r}, which is not configured")
        return self

    def backend_order(self) -> list[str]:
        """Configured backend names in trial order."""
        names: list[str] = list(self.order or [])
        names += [n for n in BACKEND_NAMES if getattr(self, n) and n not in names]
        return names
