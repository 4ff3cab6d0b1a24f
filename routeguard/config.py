"""The policy model (pydantic v2) and its TOML loader: the only module that knows TOML.

``Policy(rules=[Rule(...)], ...)`` and ``Policy.from_toml(path)`` pass through the same
constructor and validators, so a Python policy and a TOML policy cannot drift apart. Every
problem is a :class:`PolicyError` whose message names the rule position, its path and the
key; unknown keys are errors everywhere, so a typo never silently widens access.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from .backends.base import Backend
from .backends.bearer import HMAC, BearerBackend, algorithm_family, hmac_key, public_key
from .backends.session import SessionCookieBackend
from .errors import PatternError, PolicyError
from .firewall import CLASSES as FIREWALL_CLASSES
from .firewall import Firewall
from .rules import ACCESS_VALUES, Access, CompiledRule, Segment, parse_pattern, pattern_params

# Set while a policy is being loaded: where relative file paths start, and whether secrets are
# read from the environment (``routeguard check`` lints a policy without its secrets).
_BASE_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("routeguard_base_dir", default=None)
_RESOLVE_SECRETS: contextvars.ContextVar[bool] = contextvars.ContextVar("routeguard_secrets", default=True)
_IN_POLICY: contextvars.ContextVar[bool] = contextvars.ContextVar("routeguard_in_policy", default=False)


@contextlib.contextmanager
def loading(base_dir: Path | None = None, resolve_secrets: bool = True) -> Iterator[None]:
    """Load policies relative to ``base_dir``; ``resolve_secrets=False`` skips env secrets."""
    base_token = _BASE_DIR.set(base_dir)
    secrets_token = _RESOLVE_SECRETS.set(resolve_secrets)
    try:
        yield
    finally:
        _BASE_DIR.reset(base_token)
        _RESOLVE_SECRETS.reset(secrets_token)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _env_secret(env: str, where: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise PolicyError(f"{where}: environment variable {env!r} is not set or empty")
    return value


def _file_text(path: Path, where: str) -> str:
    base = _BASE_DIR.get()
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        return path.read_text()
    except OSError as exc:
        raise PolicyError(f"{where}: cannot read {str(path)!r} ({exc.strerror})") from None


def _nonempty_strings(values: list[str] | None, key: str) -> list[str] | None:
    if values is None:
        return None
    if not values:
        raise ValueError(f"{key} = [] can never be satisfied; leave the key out instead")
    for value in values:
        if not value or value != value.strip():
            raise ValueError(f"{key}: {value!r} is not a valid name")
    return values


class Rule(_Model):
    """One route rule. The first rule whose path and method match decides.

    ``Rule(path="/admin/**", roles=["admin"])``, ``Rule(path="/health", methods=["GET"],
    access="public")``, ``Rule(path="/orgs/{org_id}/**", tenant="org_id")``.
    """

    path: str
    methods: list[str] | None = None
    access: Access | None = None
    roles: list[str] | None = None
    permissions: list[str] | None = None
    tenant: str | None = None
    hide: StrictBool = False
    mode: Literal["enforce", "report"] | None = None

    _segments: tuple[Segment, ...] = PrivateAttr(default=())

    def __init__(self, /, **data: Any) -> None:
        if _IN_POLICY.get():  # the policy reports errors with the rule's position
            super().__init__(**data)
            return
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise PolicyError(_describe(exc, {"rules": [data]}, single_rule=True)) from None

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: list[str] | None) -> list[str] | None:
        if methods is None:
            return None
        if not methods:
            raise ValueError("methods = [] matches no request; leave the key out for all methods")
        normalized = []
        for method in methods:
            if not method.isascii() or not method.isalpha():
                raise ValueError(f"{method!r} is not an HTTP method")
            normalized.append(method.upper())
        return normalized

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str] | None) -> list[str] | None:
        return _nonempty_strings(roles, "roles")

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, permissions: list[str] | None) -> list[str] | None:
        return _nonempty_strings(permissions, "permissions")

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        try:
            segments = parse_pattern(self.path)
        except PatternError as exc:
            raise ValueError(f"path: {exc}") from None
        needs_identity = [k for k in ("roles", "permissions", "tenant") if getattr(self, k) is not None]
        if needs_identity and self.access in ("public", "deny"):
            raise ValueError(
                f"{needs_identity[0]} cannot be combined with access = {self.access!r} "
                "(roles, permissions and tenant imply access = 'authenticated')"
            )
        if self.tenant is not None and self.tenant not in pattern_params(segments):
            raise ValueError(f"tenant = {self.tenant!r} does not name a {{parameter}} of the path")
        if self.hide and self.access == "public":
            raise ValueError("hide = true has no effect on a public rule")
        self._segments = segments
        return self

    @property
    def effective_access(self) -> Access:
        """The access level, with the default (``authenticated``) applied."""
        return self.access or "authenticated"

    def compile(self, index: int) -> CompiledRule:
        """This rule as the engine sees it, at 0-based ``index``."""
        methods = None
        if self.methods is not None:
            methods = frozenset(self.methods) | ({"HEAD"} if "GET" in self.methods else set())
        return CompiledRule(
            index=index,
            pattern=self.path,
            segments=self._segments,
            methods=methods,
            access=self.effective_access,
            roles=frozenset(self.roles or ()),
            permissions=frozenset(self.permissions or ()),
            tenant=self.tenant,
            hide=self.hide,
            report=None if self.mode is None else self.mode == "report",
            params=pattern_params(self._segments),
        )


class BearerConfig(_Model):
    """``[auth.bearer]``: JWTs in ``Authorization: Bearer``."""

    algorithms: list[str]
    secret_env: str | None = None
    secret: SecretStr | None = None
    public_key_file: Path | None = None
    public_key: str | None = None
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

    @model_validator(mode="after")
    def _one_key(self) -> BearerConfig:
        family = algorithm_family(self.algorithms)
        sources = [k for k in ("secret_env", "secret", "public_key_file", "public_key") if getattr(self, k)]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one key source: secret_env (HS*), public_key_file (RS*/PS*/ES*/EdDSA)"
                + (f"; got {', '.join(sources)}" if sources else "")
            )
        if family == HMAC and sources[0] in ("public_key_file", "public_key"):
            raise ValueError(f"{sources[0]} cannot verify {', '.join(self.algorithms)}; use secret_env")
        if family != HMAC and sources[0] in ("secret_env", "secret"):
            raise ValueError(f"{sources[0]} cannot verify {', '.join(self.algorithms)}; use public_key_file")
        return self

    def build(self) -> BearerBackend:
        """The backend, with its key read from the environment or a file."""
        where = "auth.bearer"
        if self.secret_env:
            key: Any = hmac_key(_env_secret(self.secret_env, f"{where}.secret_env"), self.algorithms)
        elif self.secret is not None:
            key = hmac_key(self.secret.get_secret_value(), self.algorithms)
        else:
            pem = self.public_key or _file_text(self.public_key_file or Path(), f"{where}.public_key_file")
            key = public_key(pem, algorithm_family(self.algorithms))
        return BearerBackend(
            algorithms=self.algorithms,
            key=key,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            require_exp=self.require_exp,
            subject_claim=self.subject_claim,
            roles_claim=self.roles_claim,
            permissions_claim=self.permissions_claim,
            tenants_claim=self.tenants_claim,
            max_header_bytes=self.max_header_bytes,
            cache_size=self.cache_size,
        )


class SessionConfig(_Model):
    """``[auth.session]``: the signed session cookie of Starlette or Flask."""

    format: Literal["starlette", "flask"] = "starlette"
    secret_env: str | None = None
    secret: SecretStr | None = None
    fallback_secret_envs: list[str] = []
    cookie: str = "session"
    max_age: int | None = Field(default=None, gt=0)
    user_key: str = "user_id"
    roles_key: str = "roles"
    permissions_key: str = "permissions"
    tenants_key: str = "tenants"

    @model_validator(mode="after")
    def _one_secret(self) -> SessionConfig:
        if (self.secret_env is None) == (self.secret is None):
            raise ValueError("give exactly one of secret_env or secret (the app's session secret)")
        return self

    def build(self) -> SessionCookieBackend:
        """The backend, with its secrets read from the environment."""
        where = "auth.session"
        if self.secret_env:
            current = _env_secret(self.secret_env, f"{where}.secret_env")
        else:
            current = self.secret.get_secret_value() if self.secret else ""
        older = [_env_secret(env, f"{where}.fallback_secret_envs") for env in self.fallback_secret_envs]
        return SessionCookieBackend(
            format=self.format,
            secrets=[current, *older],
            cookie=self.cookie,
            max_age=self.max_age,
            user_key=self.user_key,
            roles_key=self.roles_key,
            permissions_key=self.permissions_key,
            tenants_key=self.tenants_key,
        )


class AuthConfig(_Model):
    """``[auth]``: authentication backends, tried in the order they are written."""

    bearer: BearerConfig | None = None
    session: SessionConfig | None = None
    order: list[Literal["bearer", "session"]] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> AuthConfig:
        model: AuthConfig = handler(data)
        if model.order is None and isinstance(data, Mapping):
            written = [k for k in data if k in ("bearer", "session") and data[k] is not None]
            object.__setattr__(model, "order", written)
        return model

    @model_validator(mode="after")
    def _order_names_configured(self) -> AuthConfig:
        for name in self.order or ():
            if getattr(self, name) is None:
                raise ValueError(f"order names {name!r}, which is not configured")
        return self

    def backend_order(self) -> list[str]:
        """Configured backend names in trial order."""
        names: list[str] = list(self.order or [])
        names += [n for n in ("bearer", "session") if getattr(self, n) is not None and n not in names]
        return names


class FirewallConfig(_Model):
    """``[firewall]``: relax named classes of the strict request firewall (default: none)."""

    relax: list[str] = []

    @field_validator("relax")
    @classmethod
    def _known(cls, relax: list[str]) -> list[str]:
        for name in relax:
            if name not in FIREWALL_CLASSES:
                raise ValueError(f"unknown firewall class {name!r}; known: {', '.join(FIREWALL_CLASSES)}")
        return relax


class Policy(_Model):
    """The whole access policy: ordered rules, authentication backends and settings.

    ``Policy(rules=[Rule(path="/login", access="public")], login_url="/login")`` or
    ``Policy.from_toml("routeguard.toml")``. Invalid input raises :class:`PolicyError`.
    """

    login_url: str | None = None
    mode: Literal["enforce", "report"] = "enforce"
    rules: list[Rule] = []
    auth: AuthConfig = AuthConfig()
    firewall: FirewallConfig = FirewallConfig()

    _compiled: tuple[CompiledRule, ...] = PrivateAttr(default=())
    _backends: tuple[Backend, ...] = PrivateAttr(default=())
    _runtime: Any = PrivateAttr(default=None)  # the Guard built from this policy, shared by adapters

    def __init__(self, /, **data: Any) -> None:
        token = _IN_POLICY.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise PolicyError(_describe(exc, data)) from None
        finally:
            _IN_POLICY.reset(token)

    @field_validator("login_url")
    @classmethod
    def _login_path(cls, url: str | None) -> str | None:
        if url is not None and (not url.startswith("/") or Firewall().check(url, url.partition("?")[0])):
            raise ValueError(f"{url!r} must be a plain path on this site, such as '/login'")
        return url

    @model_validator(mode="after")
    def _build(self) -> Policy:
        self._compiled = tuple(rule.compile(i) for i, rule in enumerate(self.rules))
        if self.login_url is not None:
            self._check_login_url(self.login_url)
        if _RESOLVE_SECRETS.get():
            self._backends = self.build_backends()
        return self

    def _check_login_url(self, url: str) -> None:
        from .rules import Matcher

        found = Matcher(self._compiled).match("GET", url.partition("?")[0])
        if found is None or found[0].access != "public":
            covered = (
                f"it falls under rule #{found[0].position} ({found[0].pattern!r}, access {found[0].access!r})"
                if found
                else "no rule covers it (default deny)"
            )
            raise ValueError(f"login_url {url!r} must be covered by a public rule for GET; {covered}")

    def build_backends(self) -> tuple[Backend, ...]:
        """Instantiate the configured backends (reads secrets and key files)."""
        built: list[Backend] = []
        for name in self.auth.backend_order():
            config: BearerConfig | SessionConfig | None = getattr(self.auth, name)
            if config is not None:
                built.append(config.build())
        return tuple(built)

    @property
    def compiled_rules(self) -> tuple[CompiledRule, ...]:
        """The rules as the engine runs them, in policy order."""
        return self._compiled

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The authentication backends, in trial order."""
        return self._backends

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], *, resolve_secrets: bool = True) -> Policy:
        """Load and validate a TOML policy file.

        Relative file paths inside (``public_key_file``) start at the file's directory.
        ``resolve_secrets=False`` validates without reading secrets (for linting in CI).
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"{file}: cannot read policy ({exc.strerror})") from None
        return cls.from_toml_string(
            text, base_dir=file.parent, source=str(file), resolve_secrets=resolve_secrets
        )

    @classmethod
    def from_toml_string(
        cls,
        text: str,
        *,
        base_dir: Path | None = None,
        source: str = "<policy>",
        resolve_secrets: bool = True,
    ) -> Policy:
        """Load and validate a policy from TOML text."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{source}: not valid TOML: {exc}") from None
        with loading(base_dir, resolve_secrets):
            try:
                return cls(**data)
            except PolicyError as exc:
                raise PolicyError(f"{source}: {exc}") from None


# -- error messages --------------------------------------------------------------------------

_MODELS: dict[str, type[BaseModel]] = {
    "": Policy, "rules": Rule, "auth": AuthConfig, "auth.bearer": BearerConfig,
    "auth.session": SessionConfig, "firewall": FirewallConfig,
}  # fmt: skip


def _rule_label(data: Mapping[str, Any], index: int) -> str:
    rules = data.get("rules")
    path = None
    if isinstance(rules, Sequence) and 0 <= index < len(rules):
        item = rules[index]
        path = item.get("path") if isinstance(item, Mapping) else getattr(item, "path", None)
    return f"rule #{index + 1} (path {path!r})" if path is not None else f"rule #{index + 1}"


def _describe(exc: ValidationError, data: Mapping[str, Any], single_rule: bool = False) -> str:
    """Turn pydantic's errors into lines naming the rule position, path and key."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = ""
        if single_rule:
            where = _rule_label(data, 0).replace("rule #1", "rule")
            loc = ["rules", *loc]
        elif len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            where = _rule_label(data, loc[1])
            loc = ["rules", *loc[2:]]
        dotted = [str(part) for part in loc if not isinstance(part, int)]
        section = ".".join(dotted[:-1]) if error["type"] == "extra_forbidden" else ".".join(dotted)
        key = ".".join(p for p in dotted if p != "rules")
        if error["type"] == "extra_forbidden":
            unknown = dotted[-1] if dotted else "?"
            message = f"unknown key {unknown!r}"
            model = _MODELS.get(section)
            if model is not None:
                close = difflib.get_close_matches(unknown, list(model.model_fields), n=1)
                if close:
                    message += f" (did you mean {close[0]!r}?)"
            key = ".".join(p for p in dotted[:-1] if p != "rules")
        elif error["type"] == "value_error":
            cause = error.get("ctx", {}).get("error")
            message = str(cause) if cause is not None else error["msg"]
        elif error["type"] == "literal_error" and dotted and dotted[-1] == "access":
            message = f"{error['input']!r} is not one of {', '.join(map(repr, ACCESS_VALUES))}"
        else:
            message = error["msg"]
        parts = [p for p in (where, key) if p]
        lines.append(f"{': '.join(parts)}: {message}" if parts else message)
    return "; ".join(lines)
