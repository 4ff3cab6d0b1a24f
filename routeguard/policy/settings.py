"""The settings tables other than ``[auth]`` (``[store]``, ``[firewall]``, ``[csrf]``, ``[hooks]``,
``[throttle]``, ``[responses]``) and what every policy model shares: the base model, relative
paths and the shape of a ``'package.module:function'`` reference.

Validation only: nothing here reads the environment, a file or imports a reference
(:mod:`routeguard.policy.build` does, when the policy is built).
"""

# No ``from __future__ import annotations`` in the policy models (an exception to the house
# style, for start-up): pydantic reads each field's annotation when the class is created, and a
# string annotation costs it a compile and an eval per field (~9M instructions over the three
# modules, issue 16). Forward references in method signatures are quoted instead.

import contextlib
import contextvars
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic_core import core_schema

from ..core.firewall import CLASSES as FIREWALL_CLASSES
from ..core.names import check_next_param

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

# read (``routeguard check`` lints a policy without its secrets, stores or imports).
_BASE_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("routeguard_base_dir", default=None)
_RESOLVE: contextvars.ContextVar[bool] = contextvars.ContextVar("routeguard_resolve", default=True)


@contextlib.contextmanager
def loading(base_dir: Path | None = None) -> Iterator[None]:
    """Validate policies with relative file paths starting at ``base_dir``."""
    token = _BASE_DIR.set(base_dir)
    try:
        yield
    finally:
        _BASE_DIR.reset(token)


class Model(BaseModel):
    """Base of every policy model: unknown keys are errors, instances are immutable.

    Each model builds its validator when it first validates (``defer_build``), not when its
    class is created: a policy that never gives ``[throttle]`` never pays for its validator.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True)


class Deferred:
    """Marks a field holding a policy model (``Annotated[StoreConfig, Deferred()]``): the
    enclosing model's schema calls the section's own validator, instead of containing the
    section's schema, so a section's validator is built only when a policy gives the section
    (issue 16: ``routeguard check`` start-up). The validation is the model's own: the same
    checks, the same errors at the same locations (pydantic nests the section's errors under
    the field), an instance is taken as it is, as pydantic takes a model instance."""

    __slots__ = ()

    def __repr__(self) -> str:  # as field annotations show it (the model's signature)
        return "Deferred()"

    def __get_pydantic_core_schema__(self, source: type[BaseModel], handler: "GetCoreSchemaHandler") -> "CoreSchema":
        def validate(value: Any) -> BaseModel:
            return value if isinstance(value, source) else source.model_validate(value)

        return core_schema.no_info_plain_validator_function(
            validate, metadata={"routeguard_deferred": source}  # read by the JSON schema below
        )

    def __get_pydantic_json_schema__(self, schema: "CoreSchema", handler: "GetJsonSchemaHandler") -> "JsonSchemaValue":
        # The section's own schema, in $defs and referred to, as a nested model gets.
        source: type[BaseModel] = schema["metadata"]["routeguard_deferred"]
        section = source.__pydantic_core_schema__
        return handler(core_schema.definitions_schema(core_schema.definition_reference_schema(section["ref"]),
                                                      [section]))


def resolve_path(path: Path) -> Path:
    """``path`` relative to the policy file being loaded (or the working directory)."""
    base = _BASE_DIR.get()
    return base / path if not path.is_absolute() and base is not None else path


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


def cookie_name(name: str) -> str:
    """``name`` if it is a valid cookie name (an RFC 6265 token); ValueError otherwise."""
    if not name or not all(c.isascii() and c.isprintable() and c not in ' ;,="()<>@:\\/[]?{}' for c in name):
        raise ValueError(f"{name!r} is not a cookie name")
    return name


class StoreConfig(Model):
    """``[store]``: where revocations, server-side sessions and counters live."""

    url: str = Field(default="memory://", repr=False)  # may hold a Redis password
    url_env: str | None = None
    timeout: float = Field(default=1.0, gt=0, le=30)
    prefix: str = "routeguard:"
    pool_size: int = Field(default=100, gt=0, le=10_000)  # Redis connections per client (per event loop)


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

    @field_validator("next_param")
    @classmethod
    def _next_param(cls, name: str) -> str:
        return check_next_param(name)

    @field_validator("html_template")
    @classmethod
    def _template_path(cls, path: Path | None) -> Path | None:
        return resolve_path(path) if path is not None else None
