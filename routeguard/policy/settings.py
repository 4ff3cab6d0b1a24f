"""Settings models (``[auth.*]``, ``[store]``, ``[firewall]``, ``[csrf]``, ``[hooks]``, ``[throttle]``) and
how each builds its runtime object.

Shared by :mod:`routeguard.policy.model`; secrets are read from the environment only when a policy is
built (``resolve_secrets``), never stored in reprs, logs or error messages.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    Tag,
    field_validator,
    model_validator,
)

from ..backends.apikey import APIKey, APIKeyBackend
from ..backends.base import Backend
from ..backends.bearer import HMAC, BearerBackend, algorithm_family, hmac_key, public_key
from ..backends.custom import as_backend
from ..backends.issuers import IssuerBearerBackend
from ..backends.jwks import JWKSKeys
from ..backends.server_session import ServerSessionBackend
from ..backends.session import SessionCookieBackend
from ..backends.signed_cookie import SignedCookieBackend
from ..core.claims import check_claim_name
from ..core.firewall import CLASSES as FIREWALL_CLASSES
from ..core.identity import Identity
from ..core.responses import Responder, check_next_param, check_template
from ..errors import PolicyError
from ..runtime.accept import prefers_html
from ..stores import Store, open_store
from . import toml

# Set while a policy is being loaded: where relative file paths start, and whether secrets are
# read (``routeguard check`` lints a policy without its secrets, stores or imports).
_BASE_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("routeguard_base_dir", default=None)
_RESOLVE: contextvars.ContextVar[bool] = contextvars.ContextVar("routeguard_resolve", default=True)


@contextlib.contextmanager
def loading(base_dir: Path | None = None, resolve_secrets: bool = True) -> Iterator[None]:
    """Load policies relative to ``base_dir``; ``resolve_secrets=False`` builds nothing."""
    base_token = _BASE_DIR.set(base_dir)
    resolve_token = _RESOLVE.set(resolve_secrets)
    try:
        yield
    finally:
        _BASE_DIR.reset(base_token)
        _RESOLVE.reset(resolve_token)


def resolving() -> bool:
    """Whether the policy being loaded should build its backends and store."""
    return _RESOLVE.get()


class Model(BaseModel):
    """Base of every policy model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def env_secret(env: str, where: str) -> str:
    """The value of environment variable ``env`` (PolicyError naming ``where`` if unset)."""
    value = os.environ.get(env)
    if not value:
        raise PolicyError(f"{where}: environment variable {env!r} is not set or empty")
    return value


def resolve_path(path: Path) -> Path:
    """``path`` relative to the policy file being loaded (or the working directory)."""
    base = _BASE_DIR.get()
    return base / path if not path.is_absolute() and base is not None else path


def file_text(path: Path, where: str) -> str:
    """The text of a file named in the policy."""
    full = resolve_path(path)
    try:
        return full.read_text()
    except OSError as exc:
        raise PolicyError(f"{where}: cannot read {str(full)!r} ({exc.strerror})") from None


_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def check_ref(value: Any) -> Any:
    """``value`` if it is None, a callable or a ``'package.module:function'`` reference;
    ValueError otherwise. The one check of every hook, check and backend reference."""
    if isinstance(value, str):
        if not _REF.fullmatch(value):
            raise ValueError(f"{value!r} must look like 'package.module:function'")
    elif value is not None and not callable(value):
        raise ValueError("must be a 'package.module:function' reference or a callable")
    return value


def import_ref(ref: Any, where: str) -> Any:
    """``"package.module:attribute"`` -> the object; any other value is returned as is."""
    if not isinstance(ref, str):  # a callable, or an object such as a custom backend instance
        return ref
    try:
        check_ref(ref)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    module_name, _, attribute = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # any import-time failure is a load error, named
        raise PolicyError(f"{where}: cannot import {ref!r} ({type(exc).__name__}: {exc})") from None
    return target


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")


def cookie_name(name: str) -> str:
    """``name`` if it is a valid cookie name (an RFC 6265 token); ValueError otherwise."""
    if not name or not all(c.isascii() and c.isprintable() and c not in ' ;,="()<>@:\\/[]?{}' for c in name):
        raise ValueError(f"{name!r} is not a cookie name")
    return name


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
    def _double_submit(self) -> BearerConfig:
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
    def _one_key(self) -> BearerConfig:
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

    def build(self) -> BearerBackend:
        """The backend, with its key read from the environment, a file or a JWKS URL."""
        where = "auth.bearer"
        family = algorithm_family(self.algorithms)
        key: Any = None
        resolver = None
        if self.secret_env:
            key = hmac_key(env_secret(self.secret_env, f"{where}.secret_env"), self.algorithms)
        elif self.secret is not None:
            key = hmac_key(self.secret.get_secret_value(), self.algorithms)
        elif self.jwks_url:
            resolver = JWKSKeys(self.jwks_url, family=family, min_refresh=self.jwks_min_refresh,
                                max_age=self.jwks_max_age, timeout=self.jwks_timeout)
        else:
            pem = self.public_key or file_text(self.public_key_file or Path(), f"{where}.public_key_file")
            key = public_key(pem, family)
        return BearerBackend(
            algorithms=self.algorithms,
            key=key,
            resolve_key=resolver,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            require_exp=self.require_exp,
            subject_claim=self.subject_claim,
            roles_claim=self.roles_claim,
            permissions_claim=self.permissions_claim,
            tenants_claim=self.tenants_claim,
            max_header_bytes=self.max_header_bytes,
            cookie=self.cookie,
            csrf_cookie=self.csrf_cookie,
            csrf_header=self.csrf_header,
            websocket_subprotocol=self.websocket_subprotocol,
            cache_size=self.cache_size,
            cache_bytes=self.cache_bytes,
        )


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
    def _secrets_match_format(self) -> SessionConfig:
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

    def secrets(self) -> list[str]:
        """The session secrets from the environment (current first), empty when none is named."""
        where = "auth.session"
        if self.secret_env:
            current = env_secret(self.secret_env, f"{where}.secret_env")
        elif self.secret is not None:
            current = self.secret.get_secret_value()
        else:
            return []
        return [current, *(env_secret(env, f"{where}.fallback_secret_envs") for env in self.fallback_secret_envs)]

    def build(self, store: Store) -> Backend:
        """The backend, with its secrets read from the environment."""
        if self.format == "server":
            return ServerSessionBackend(store, cookie=self.cookie, idle_timeout=self.idle_timeout,
                                        max_age=self.max_age or 12 * 3600, secure=self.secure,
                                        same_site=self.same_site)
        if self.format in INTEGRATION_SESSION_FORMATS:
            factory = import_ref(INTEGRATION_SESSION_FORMATS[self.format], f"auth.session.format {self.format!r}")
            return factory(self, store)  # type: ignore[no-any-return]
        return SessionCookieBackend(
            format=self.format,  # type: ignore[arg-type]
            secrets=self.secrets(),
            cookie=self.cookie,
            max_age=self.max_age,
            user_key=self.user_key,
            roles_key=self.roles_key,
            permissions_key=self.permissions_key,
            tenants_key=self.tenants_key,
        )


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
    def _age_matches_serializer(self) -> SignedCookieConfig:
        if self.serializer == "url_safe_timed" and self.max_age is None:
            raise ValueError("max_age is required with serializer = 'url_safe_timed'")
        if self.serializer == "url_safe" and self.max_age is not None:
            raise ValueError("max_age needs serializer = 'url_safe_timed' (an untimed cookie has no timestamp)")
        return self

    def build(self) -> SignedCookieBackend:
        """The backend, with its secrets read from the environment."""
        where = "auth.signed_cookie"
        secrets = [env_secret(self.secret_env, f"{where}.secret_env")]
        secrets += [env_secret(env, f"{where}.fallback_secret_envs") for env in self.fallback_secret_envs]
        return SignedCookieBackend(
            cookie=self.cookie, secrets=secrets, salt=self.salt, serializer=self.serializer,
            max_age=self.max_age, key_derivation=self.key_derivation, digest=self.digest,
            subject=self.subject, roles=self.roles, permissions=self.permissions, tenants=self.tenants,
        )


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
        APIKey.parse_digest(value)
        return value

    def key(self) -> APIKey:
        """The runtime entry."""
        return APIKey(self.hash, Identity.of(self.subject, self.roles, self.permissions, self.tenants,
                                             backend="api_key"))


class APIKeyConfig(Model):
    """``[auth.api_key]``: keys in a header, listed here or in ``keys_file`` (TOML, ``[[keys]]``)."""

    header: str = "X-API-Key"
    keys: list[APIKeyEntry] = []
    keys_file: Path | None = None

    @model_validator(mode="after")
    def _some_keys(self) -> APIKeyConfig:
        if not self.keys and self.keys_file is None:
            raise ValueError("list keys ([[auth.api_key.keys]]) or name a keys_file")
        return self

    def build(self) -> APIKeyBackend:
        """The backend, reading ``keys_file`` if any."""
        entries = list(self.keys)
        if self.keys_file is not None:
            where = "auth.api_key.keys_file"
            data = toml.parse(file_text(self.keys_file, where), where)
            unknown = set(data) - {"keys"}
            if unknown:
                raise PolicyError(f"{where}: unknown key {sorted(unknown)[0]!r}")
            try:
                entries += [APIKeyEntry(**item) for item in data.get("keys", [])]
            except (TypeError, ValueError) as exc:
                raise PolicyError(f"{where}: {exc}") from None
        return APIKeyBackend(header=self.header, keys=[e.key() for e in entries])


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
    session: SessionConfig | None = None
    signed_cookie: SignedCookieConfig | None = None
    api_key: APIKeyConfig | None = None
    custom: list[Any] = []
    order: list[Literal["bearer", "session", "signed_cookie", "api_key", "custom"]] | None = None
    identity_loader: Any = None
    identity_cache_ttl: float = Field(default=30, ge=0, le=3600)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> AuthConfig:
        model: AuthConfig = handler(data)
        if model.order is None and isinstance(data, Mapping):
            written = [k for k in data if k in BACKEND_NAMES and data[k]]
            object.__setattr__(model, "order", written)
        return model

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
    def _order_names_configured(self) -> AuthConfig:
        for name in self.order or ():
            if not getattr(self, name):
                raise ValueError(f"order names {name!r}, which is not configured")
        return self

    def backend_order(self) -> list[str]:
        """Configured backend names in trial order."""
        names: list[str] = list(self.order or [])
        names += [n for n in BACKEND_NAMES if getattr(self, n) and n not in names]
        return names

    def build(self, store: Store) -> tuple[Backend, ...]:
        """Instantiate the configured backends, in order."""
        built: list[Backend] = []
        for name in self.backend_order():
            if name == "custom":
                built += [as_backend(import_ref(ref, "auth.custom")) for ref in self.custom]
            elif name == "session":
                built.append(self.session.build(store))  # type: ignore[union-attr]
            elif name == "bearer" and isinstance(self.bearer, list):
                built.append(IssuerBearerBackend([config.build() for config in self.bearer]))
            else:
                built.append(getattr(self, name).build())
        return tuple(built)

    def loader(self) -> Callable[[str], Any] | None:
        """The identity loader callable, if configured."""
        if self.identity_loader is None:
            return None
        loader = import_ref(self.identity_loader, "auth.identity_loader")
        if not callable(loader) or inspect.isclass(loader):
            raise PolicyError("auth.identity_loader: must be a function taking the subject")
        return loader  # type: ignore[no-any-return]


class StoreConfig(Model):
    """``[store]``: where revocations, server-side sessions and counters live."""

    url: str = Field(default="memory://", repr=False)  # may hold a Redis password
    url_env: str | None = None
    timeout: float = Field(default=1.0, gt=0, le=30)
    prefix: str = "routeguard:"
    pool_size: int = Field(default=100, gt=0, le=10_000)  # Redis connections per client (per event loop)

    def build(self) -> Store:
        """Open the store (connections are made lazily); ``url_env`` names a variable holding the URL."""
        url = env_secret(self.url_env, "store.url_env") if self.url_env else self.url
        return open_store(url, timeout=self.timeout, prefix=self.prefix, pool_size=self.pool_size)


class FirewallConfig(Model):
    """``[firewall]``: relax named classes of the strict request firewall (default: none)."""

    relax: list[str] = []

    @field_validator("relax")
    @classmethod
    def _known(cls, relax: list[str]) -> list[str]:
        for name in relax:
            if name not in FIREWALL_CLASSES:
                raise ValueError(f"unknown firewall class {name!r}; known: {', '.join(FIREWALL_CLASSES)}")
        return relax


class CSRFConfig(Model):
    """``[csrf]``: unsafe requests authenticated by a session cookie must come from this site.

    Bearer and API-key requests are exempt (a browser never attaches them on its own).
    """

    enabled: StrictBool = True
    trusted_origins: list[str] = []

    @field_validator("trusted_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin such as 'https://app.example.com'")
        return [o.lower() for o in origins]


class HooksConfig(Model):
    """``[hooks]``: every hook (identity loader, membership, ``check``, custom backend) answers
    within ``timeout`` seconds or the request gets 503; sync hooks run on at most ``threads``
    worker threads (see :mod:`routeguard.hooks`)."""

    timeout: float = Field(default=5.0, gt=0, le=300)
    threads: int = Field(default=20, ge=1, le=1000)


class ThrottleConfig(Model):
    """``[throttle]``: limits on guessing (see :mod:`routeguard.runtime.throttle`).

    Per client: after ``max_failures`` guessed credentials or failed logins within ``window``
    seconds, the client's further invalid credentials and its POSTs to ``login_url`` get 429
    until the window passes. Per username: after ``username_max_failures`` failed logins
    (``routeguard.login_failed``) within ``username_window`` seconds, POSTs to ``login_url``
    naming that username (form field or JSON member ``username_field``) get 429; so do POSTs to
    ``login_paths``, other endpoints that take a password (an OAuth2 password grant). The client
    is the peer address, or the ``X-Forwarded-For`` hop a ``trusted_proxies`` proxy reports.
    """

    enabled: StrictBool = True
    max_failures: int = Field(default=20, ge=1)
    window: int = Field(default=300, ge=1, le=86400)
    username_max_failures: int = Field(default=5, ge=1)
    username_window: int = Field(default=900, ge=1, le=86400)
    username_field: str = Field(default="username", min_length=1, max_length=128)
    login_paths: list[str] = []
    trusted_proxies: list[str] = []

    @field_validator("login_paths")
    @classmethod
    def _paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or any(c in path for c in "?#*{}") or "//" in path:
                raise ValueError(f"login_paths: {path!r} is not a plain path such as '/api/token'")
        return paths

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        import ipaddress

        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies


class ResponsesConfig(Model):
    """``[responses]``: how refusals look to API clients and browsers (defaults: SPEC §4).

    ``format``: ``"error"`` (``{"error": "Forbidden"}``), ``"detail"`` (FastAPI's
    ``{"detail": ...}``) or ``"problem"`` (RFC 9457 ``application/problem+json``);
    ``next_param``: the login redirect's parameter; ``html_template``: a file (relative to the
    policy) for browser refusal pages, with ``{status}`` and ``{title}`` placeholders.
    """

    format: Literal["error", "detail", "problem"] = "error"
    next_param: str = "next"
    html_template: Path | None = None

    _template: str | None = PrivateAttr(default=None)

    @field_validator("next_param")
    @classmethod
    def _next_param(cls, name: str) -> str:
        return check_next_param(name)

    @model_validator(mode="after")
    def _read_template(self) -> ResponsesConfig:
        if self.html_template is not None:
            text = file_text(self.html_template, "html_template")
            if len(text) > _MAX_TEMPLATE:
                raise ValueError(f"html_template is {len(text)} characters; at most {_MAX_TEMPLATE}")
            self._template = check_template(text)
        return self

    def responder(self, login_url: str | None) -> Responder:
        """The response builder for a policy with this login URL."""
        return Responder(login_url, prefers_html=prefers_html, format=self.format, next_param=self.next_param,
                         html_template=self._template)


_MAX_TEMPLATE = 65536
