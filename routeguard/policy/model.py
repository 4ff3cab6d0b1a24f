"""The policy model (pydantic v2) and its loaders (TOML is parsed by :mod:`.toml`).

``Policy(rules=[Rule(...)], ...)`` and ``Policy.from_toml(path)`` pass through the same
constructor and validators, so a Python policy and a TOML policy cannot drift apart. Every
problem is a :class:`PolicyError` whose message names the rule position, its path and the
key; unknown keys are errors everywhere, so a typo never silently widens access.
"""

from __future__ import annotations

import contextvars
import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, StrictBool, ValidationError, field_validator, model_validator

from ..core.firewall import Firewall
from ..core.methods import method_problem
from ..core.override import OVERRIDE_MODES
from ..core.rules import (
    ACCESS_VALUES,
    Access,
    CompiledRule,
    Segment,
    ambiguous_params,
    match_segments,
    parse_pattern,
    pattern_params,
    split_path,
)
from ..errors import PatternError, PolicyError
from . import toml
from .auth import (
    ONE_TABLE,
    TABLES,
    APIKeyConfig,
    APIKeyEntry,
    AuthConfig,
    BearerConfig,
    SessionConfig,
    SignedCookieConfig,
)
from .settings import (
    CSRFConfig,
    FirewallConfig,
    HooksConfig,
    ResponsesConfig,
    StoreConfig,
    ThrottleConfig,
    check_ref,
    loading,
    resolve_path,
)
from .settings import Model as _Model

__all__ = [
    "APIKeyConfig",
    "APIKeyEntry",
    "AuthConfig",
    "BearerConfig",
    "CSRFConfig",
    "FirewallConfig",
    "HooksConfig",
    "Policy",
    "ResponsesConfig",
    "Rule",
    "SessionConfig",
    "SignedCookieConfig",
    "StoreConfig",
    "ThrottleConfig",
    "loading",
]



def _callable_name(target: Any) -> str | None:
    if target is None:
        return None
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"



# Set while a Policy validates its rules, so a rule error is reported with its position.
_IN_POLICY: contextvars.ContextVar[bool] = contextvars.ContextVar("routeguard_in_policy", default=False)


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
    check: Any = None

    _segments: tuple[Segment, ...] | None = PrivateAttr(default=None)  # None: not validated yet

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
            problem = method_problem(method)
            if problem is not None:
                raise ValueError(problem)
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
        # Private attributes are read from pydantic's dict: its attribute hook costs ~10 us a read.
        private = self.__pydantic_private__
        assert private is not None
        if private["_segments"] is not None:  # pydantic runs this again after the custom __init__ did
            return self
        try:
            segments = parse_pattern(self.path)
        except PatternError as exc:
            raise ValueError(f"path: {exc}") from None
        needs_identity = [k for k in ("roles", "permissions", "tenant", "check") if getattr(self, k) is not None]
        if needs_identity and self.access in ("public", "deny"):
            raise ValueError(
                f"{needs_identity[0]} cannot be combined with access = {self.access!r} "
                "(roles, permissions, tenant and check imply access = 'authenticated')"
            )
        if self.tenant is not None and self.tenant not in pattern_params(segments):
            raise ValueError(f"tenant = {self.tenant!r} does not name a {{parameter}} of the path")
        ambiguous = ambiguous_params(segments)
        used = [("tenant", self.tenant)] if self.tenant in ambiguous else []
        used += [("check", name) for name in ambiguous if self.check is not None and name != self.tenant]
        if used:
            key, name = used[0]
            raise ValueError(
                f"{key}: {{{name}}} sits between two '**', so which segment it captures depends on how much "
                "each '**' takes (routers disagree; the app may get another value than the one judged); "
                "put it before the first '**' or after the last one"
            )
        if self.hide and self.access == "public":
            raise ValueError("hide = true has no effect on a public rule")
        try:
            check_ref(self.check)
        except ValueError as exc:
            raise ValueError(f"check: {exc}") from None
        private["_segments"] = segments
        return self

    @property
    def effective_access(self) -> Access:
        """The access level, with the default (``authenticated``) applied."""
        return self.access or "authenticated"

    def compile(self, index: int) -> CompiledRule:
        """This rule as the engine and the tools see it, at 0-based ``index``."""
        methods = None
        if self.methods is not None:
            methods = _shared([*self.methods, "HEAD"] if "GET" in self.methods else self.methods)
        assert self.__pydantic_private__ is not None
        segments: tuple[Segment, ...] = self.__pydantic_private__["_segments"]  # set by validation
        return CompiledRule(
            index=index,
            pattern=self.path,
            segments=segments,
            methods=methods,
            access=self.effective_access,
            roles=_shared(self.roles or ()),
            permissions=_shared(self.permissions or ()),
            tenant=self.tenant,
            hide=self.hide,
            report=None if self.mode is None else self.mode == "report",
            check_name=self.check if isinstance(self.check, str) else _callable_name(self.check),
            params=pattern_params(segments),
        )


_FROZEN: dict[frozenset[str], frozenset[str]] = {}


def _shared(values: Iterable[str]) -> frozenset[str]:
    """One frozenset object per distinct set of names: 100,000 rules share a handful."""
    key = frozenset(values)
    if len(_FROZEN) > 4096:  # bounded: policies built in a loop do not grow it without end
        _FROZEN.clear()
    return _FROZEN.setdefault(key, key)


class Policy(_Model):
    """The whole access policy: ordered rules, authentication backends and settings.

    ``Policy(rules=[Rule(path="/login", access="public")], login_url="/login")`` or
    ``Policy.from_toml("routeguard.toml")``. Invalid input raises :class:`PolicyError`.
    """

    login_url: str | None = None
    mode: Literal["enforce", "report"] = "enforce"
    allow_preflight: StrictBool = False
    method_override: Literal["judge", "refuse", "ignored"] = "judge"
    tenant_membership: Any = None
    membership_cache_ttl: float = Field(default=30, ge=0, le=3600)
    on_decision: Any = None
    decision_log: Path | None = None
    rules: list[Rule] = []
    auth: AuthConfig = AuthConfig()
    store: StoreConfig = StoreConfig()
    firewall: FirewallConfig = FirewallConfig()
    csrf: CSRFConfig = CSRFConfig()
    hooks: HooksConfig = HooksConfig()
    throttle: ThrottleConfig = ThrottleConfig()
    responses: ResponsesConfig = ResponsesConfig()

    # Derived by validation from the rules alone (no I/O): the one compiled-rule tuple, which
    # the tools read and the runtime shares (see routeguard.policy.build).
    _compiled: tuple[CompiledRule, ...] = PrivateAttr(default=())

    def __init__(self, /, **data: Any) -> None:
        token = _IN_POLICY.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise PolicyError(_describe(exc, data)) from None
        finally:
            _IN_POLICY.reset(token)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Policy:
        """A new, fully validated policy with ``update`` applied (never the old runtime)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**data, **(update or {})})

    def __copy__(self) -> Policy:
        return self.model_copy()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Policy:
        return self.model_copy()

    @field_validator("tenant_membership", "on_decision")
    @classmethod
    def _hook_ref(cls, value: Any) -> Any:
        return check_ref(value)

    @field_validator("decision_log")
    @classmethod
    def _log_path(cls, path: Path | None) -> Path | None:
        return resolve_path(path) if path is not None else None

    @field_validator("login_url")
    @classmethod
    def _login_path(cls, url: str | None) -> str | None:
        if url is not None and (not url.startswith("/") or Firewall().check(url, url.partition("?")[0])):
            raise ValueError(f"{url!r} must be a plain path on this site, such as '/login'")
        return url

    @model_validator(mode="after")
    def _compile(self) -> Policy:
        self._compiled = tuple(rule.compile(i) for i, rule in enumerate(self.rules))
        if self.login_url is not None:
            self._check_login_url(self.login_url)
        store = self.store.model_fields_set
        if self.auth.session is not None and self.auth.session.format == "server" and not store & {"url", "url_env"}:
            raise ValueError(
                "auth.session: format = 'server' keeps sessions in the store, and no [store] is configured: "
                "the default memory:// holds them in one process, so several workers give random 401s. "
                "Set [store] url explicitly (sqlite:///path for one host, redis://host:6379/0 for several; "
                "url = \"memory://\" for a single process)"
            )
        return self

    def _check_login_url(self, url: str) -> None:
        # The first rule taking GET on the path, by a linear scan: the guard's matcher (a trie)
        # is built once, by the guard, not a second time here.
        parts = split_path(url.partition("?")[0])
        found = next(
            (rule for rule in self._compiled
             if rule.accepts("GET") and match_segments(rule.segments, parts) is not None),
            None,
        )
        if found is None or found.access != "public":
            covered = (
                f"it falls under rule #{found.position} ({found.pattern!r}, access {found.access!r})"
                if found
                else "no rule covers it (default deny)"
            )
            raise ValueError(f"login_url {url!r} must be covered by a public rule for GET; {covered}")

    @property
    def compiled_rules(self) -> tuple[CompiledRule, ...]:
        """The rules as the engine runs them, in policy order."""
        return self._compiled

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], *, resolve_secrets: bool = True) -> Policy:
        """Load and validate a TOML policy file.

        Relative file paths inside (``public_key_file``) start at the file's directory.
        The policy is then built (:func:`routeguard.policy.build.runtime_for`: secrets, key
        files, imports, store), so what needs I/O fails here too; ``resolve_secrets=False``
        only validates (for linting in CI).
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
        """Load, validate and (unless ``resolve_secrets=False``) build a policy from TOML text."""
        data = toml.parse(text, source)
        try:
            with loading(base_dir):
                policy = cls(**data)
            if resolve_secrets:
                from .build import runtime_for  # the loader's one step up; not for linting (import cost)

                runtime_for(policy)
        except PolicyError as exc:
            raise PolicyError(f"{source}: {exc}") from None
        return policy


# -- error messages --------------------------------------------------------------------------

_MODELS: dict[str, type[BaseModel]] = {
    "": Policy, "rules": Rule, "auth": AuthConfig, "auth.bearer": BearerConfig,
    "auth.session": SessionConfig, "auth.api_key": APIKeyConfig, "auth.api_key.keys": APIKeyEntry,
    "store": StoreConfig, "firewall": FirewallConfig, "csrf": CSRFConfig, "throttle": ThrottleConfig,
    "responses": ResponsesConfig, "auth.signed_cookie": SignedCookieConfig,
}  # fmt: skip


_CHOICES: dict[str, tuple[str, ...]] = {"access": ACCESS_VALUES, "method_override": OVERRIDE_MODES}


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
        loc = [part for part in error["loc"] if part not in (ONE_TABLE, TABLES)]
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
        elif error["type"] == "literal_error" and dotted and dotted[-1] in _CHOICES:
            choices = _CHOICES[dotted[-1]]
            message = f"{error['input']!r} is not one of {', '.join(map(repr, choices))}"
            close = difflib.get_close_matches(str(error["input"]), choices, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        else:
            message = error["msg"]
        parts = [p for p in (where, key) if p]
        lines.append(f"{': '.join(parts)}: {message}" if parts else message)
    return "; ".join(lines)
