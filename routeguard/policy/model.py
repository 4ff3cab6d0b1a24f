"""The policy model (pydantic v2) and its loaders (TOML is parsed by :mod:`.toml`).

``Policy(rules=[Rule(...)], ...)`` and ``Policy.from_toml(path)`` pass through the same
constructor and validators, so a Python policy and a TOML policy cannot drift apart. Every
problem is a :class:`PolicyError` whose message names the rule position, its path and the
key; unknown keys are errors everywhere, so a typo never silently widens access.
"""

# No ``from __future__ import annotations`` in the policy models (an exception to the house
# style, for start-up): pydantic reads each field's annotation when the class is created, and a
# string annotation costs it a compile and an eval per field (~9M instructions over the three
# modules, issue 16). Forward references in method signatures are quoted instead.

import contextvars
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import BaseModel, Field, PrivateAttr, StrictBool, ValidationError, field_validator, model_validator

from ..core.firewall import Firewall
from ..core.methods import OVERRIDE_MODES, method_problem
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
    Deferred,
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



def _close(word: str, choices: Sequence[str]) -> list[str]:
    """The choice closest to a misspelt ``word``, for an error message (difflib loads only then)."""
    import difflib

    return difflib.get_close_matches(word, choices, n=1)

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
            raise PolicyError(_describe(exc.errors(include_url=False), {"rules": [data]}, single_rule=True)) from None

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: list[str] | None) -> list[str] | None:
        return None if methods is None else _normalized_methods(methods)

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str] | None) -> list[str] | None:
        return _nonempty_strings(roles, "roles")

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, permissions: list[str] | None) -> list[str] | None:
        return _nonempty_strings(permissions, "permissions")

    @model_validator(mode="after")
    def _consistent(self) -> "Rule":
        # Private attributes are read from pydantic's dict: its attribute hook costs ~10 us a read.
        private = self.__pydantic_private__
        assert private is not None
        if private["_segments"] is not None:  # pydantic runs this again after the custom __init__ did
            return self
        private["_segments"] = _rule_segments(
            self.path, self.access, self.roles, self.permissions, self.tenant, self.hide, self.check
        )
        return self

    @property
    def effective_access(self) -> Access:
        """The access level, with the default (``authenticated``) applied."""
        return self.access or "authenticated"

    def compile(self, index: int) -> CompiledRule:
        """This rule as the engine and the tools see it, at 0-based ``index``."""
        assert self.__pydantic_private__ is not None
        segments: tuple[Segment, ...] = self.__pydantic_private__["_segments"]  # set by validation
        return compile_rule(index, self.path, segments, self.methods, self.access, self.roles,
                            self.permissions, self.tenant, self.hide, self.mode, self.check)


def _normalized_methods(methods: Sequence[str]) -> list[str]:
    if not methods:
        raise ValueError("methods = [] matches no request; leave the key out for all methods")
    normalized = []
    for method in methods:
        problem = method_problem(method)
        if problem is not None:
            raise ValueError(problem)
        normalized.append(method.upper())
    return normalized


def _rule_segments(
    path: str,
    access: str | None,
    roles: list[str] | None,
    permissions: list[str] | None,
    tenant: str | None,
    hide: bool,
    check: Any,
) -> tuple[Segment, ...]:
    """The rule's parsed pattern, once the fields agree with each other; ValueError otherwise.
    (The one rule-level check: :class:`Rule` and the policy's fast path both run it.)"""
    try:
        segments = parse_pattern(path)
    except PatternError as exc:
        raise ValueError(f"path: {exc}") from None
    if access in ("public", "deny"):
        given = (("roles", roles), ("permissions", permissions), ("tenant", tenant), ("check", check))
        needs_identity = [key for key, value in given if value is not None]
        if needs_identity:
            raise ValueError(
                f"{needs_identity[0]} cannot be combined with access = {access!r} "
                "(roles, permissions, tenant and check imply access = 'authenticated')"
            )
    params = pattern_params(segments)
    if tenant is not None and tenant not in params:
        raise ValueError(f"tenant = {tenant!r} does not name a {{parameter}} of the path")
    ambiguous = ambiguous_params(segments) if params else ()
    if ambiguous:
        used = [("tenant", tenant)] if tenant in ambiguous else []
        used += [("check", name) for name in ambiguous if check is not None and name != tenant]
        if used:
            key, name = used[0]
            raise ValueError(
                f"{key}: {{{name}}} sits between two '**', so which segment it captures depends on how much "
                "each '**' takes (routers disagree; the app may get another value than the one judged); "
                "put it before the first '**' or after the last one"
            )
    if hide and access == "public":
        raise ValueError("hide = true has no effect on a public rule")
    try:
        check_ref(check)
    except ValueError as exc:
        raise ValueError(f"check: {exc}") from None
    return segments


def compile_rule(
    index: int,
    path: str,
    segments: tuple[Segment, ...],
    methods: Sequence[str] | None,
    access: Access | None,
    roles: Sequence[str] | None,
    permissions: Sequence[str] | None,
    tenant: str | None,
    hide: bool,
    mode: str | None,
    check: Any,
) -> CompiledRule:
    """A validated rule's fields as the engine and the tools see them, at 0-based ``index``."""
    return CompiledRule(
        index,
        path,
        segments,
        None if methods is None else _shared([*methods, "HEAD"] if "GET" in methods else methods),
        access or "authenticated",
        _shared(roles) if roles else _NONE,
        _shared(permissions) if permissions else _NONE,
        tenant,
        hide,
        None if mode is None else mode == "report",
        check if isinstance(check, str) else _callable_name(check),
        pattern_params(segments),
    )


_NONE: frozenset[str] = frozenset()
_FROZEN: dict[frozenset[str], frozenset[str]] = {}


def _shared(values: Iterable[str]) -> frozenset[str]:
    """One frozenset object per distinct set of names: 100,000 rules share a handful."""
    key = frozenset(values)
    if len(_FROZEN) > 4096:  # bounded: policies built in a loop do not grow it without end
        _FROZEN.clear()
    return _FROZEN.setdefault(key, key)


# -- rules without a model object each ------------------------------------------------------
#
# A TOML rule (a dict of plain values) is validated and compiled straight to its CompiledRule:
# 100,000 pydantic Rule objects would cost ~90 MiB. What an equal Rule needs besides the
# compiled rule (the keys given, the name lists in their given order) is a record shared by
# all rules alike. ``policy.rules`` builds the Rule objects on first use. Anything else (a
# Rule, an unusual value, any invalid rule) goes through the Rule model, whose errors are the
# ones reported.

_Record = tuple[frozenset[str], "tuple[str, ...] | None", "tuple[str, ...] | None", "tuple[str, ...] | None"]
_RECORDS: dict[_Record, _Record] = {}
_MODES = ("enforce", "report")


def _names(values: Any, key: str) -> list[str] | None:
    """``values`` if it is a valid list of names, else None (the model then reports it)."""
    if type(values) is not list or not all(type(value) is str for value in values):
        return None
    try:
        return _nonempty_strings(values, key)
    except ValueError:
        return None


def _fast_rule(item: Any, index: int) -> tuple[CompiledRule, _Record] | None:
    """``item`` validated and compiled, when it is a dict of plain values that the Rule model
    would take as they are; None for anything else (valid or not: the model decides)."""
    if type(item) is not dict or not item.keys() <= _RULE_FIELDS or None in item.values():
        return None
    path, methods, access = item.get("path"), item.get("methods"), item.get("access")
    roles, permissions, tenant = item.get("roles"), item.get("permissions"), item.get("tenant")
    hide, mode, check = item.get("hide", False), item.get("mode"), item.get("check")
    if (
        type(path) is not str
        or (access is not None and (type(access) is not str or access not in ACCESS_VALUES))
        or (tenant is not None and type(tenant) is not str)
        or type(hide) is not bool
        or (mode is not None and (type(mode) is not str or mode not in _MODES))
        or (check is not None and type(check) is not str)
        or (roles is not None and (roles := _names(roles, "roles")) is None)
        or (permissions is not None and (permissions := _names(permissions, "permissions")) is None)
    ):
        return None
    if methods is not None:
        if type(methods) is not list or not all(type(method) is str for method in methods):
            return None
        try:
            methods = _normalized_methods(methods)
        except ValueError:
            return None
    try:
        segments = _rule_segments(path, access, roles, permissions, tenant, hide, check)
    except ValueError:
        return None
    compiled = compile_rule(index, path, segments, methods, cast("Access | None", access), roles, permissions,
                            tenant, hide, mode, check)
    record: _Record = (
        frozenset(item),
        None if methods is None else tuple(methods),
        None if roles is None else tuple(roles),
        None if permissions is None else tuple(permissions),
    )
    shared = _RECORDS.get(record)
    if shared is None:
        if len(_RECORDS) > 4096:  # bounded, like _FROZEN
            _RECORDS.clear()
        shared = _RECORDS[record] = record
    return compiled, shared


def _rebuilt(record: _Record, rule: CompiledRule) -> Rule:
    """The Rule that validating the fast path's input gives: equal fields, fields set, segments."""
    given, methods, roles, permissions = record
    built = Rule.model_construct(
        _fields_set=set(given),
        path=rule.pattern,
        methods=None if methods is None else list(methods),
        access=rule.access if "access" in given else None,
        roles=None if roles is None else list(roles),
        permissions=None if permissions is None else list(permissions),
        tenant=rule.tenant,
        hide=rule.hide,
        mode=None if rule.report is None else _MODES[rule.report],
        check=rule.check_name,
    )
    assert built.__pydantic_private__ is not None
    built.__pydantic_private__["_segments"] = rule.segments
    return built


class _Prepared:
    """A policy's rules, validated and compiled before the model validates the other fields."""

    __slots__ = ("compiled", "errors", "sources")

    def __init__(self, rules: list[Any] | tuple[Any, ...], consume: bool) -> None:
        self.compiled: list[CompiledRule] = []
        self.sources: list[Rule | _Record] = []
        self.errors: list[Mapping[str, Any]] = []
        source: Rule | _Record
        for index, item in enumerate(rules):
            fast = _fast_rule(item, index)
            if fast is not None:
                compiled, source = fast
            else:
                try:
                    rule = item if isinstance(item, Rule) else Rule.model_validate(item)
                except ValidationError as exc:
                    self.errors += [{**error, "loc": ("rules", index, *error["loc"])}
                                    for error in exc.errors(include_url=False)]
                    continue
                compiled, source = rule.compile(index), rule
            if not self.errors:
                self.compiled.append(compiled)
                self.sources.append(source)
            if consume:
                rules[index] = None  # type: ignore[index]  # the parsed TOML table is not needed any more


# The parsed TOML rule list that from_toml hands to the policy: its tables are dropped as they
# are compiled (a caller's list is never changed). The rules prepared for the model's validator.
_CONSUMABLE: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("routeguard_consumable", default=None)
_PREPARED: contextvars.ContextVar[_Prepared | None] = contextvars.ContextVar("routeguard_prepared", default=None)


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
    rules: list[Annotated[Rule, Deferred()]] = []
    auth: AuthConfig = AuthConfig()
    # The sections a small policy leaves out are validated only when given; their defaults
    # are the instances their model builds from no input (a test holds them equal).
    store: Annotated[StoreConfig, Deferred()] = StoreConfig.model_construct()
    firewall: Annotated[FirewallConfig, Deferred()] = FirewallConfig.model_construct()
    csrf: Annotated[CSRFConfig, Deferred()] = CSRFConfig.model_construct()
    hooks: Annotated[HooksConfig, Deferred()] = HooksConfig.model_construct()
    throttle: Annotated[ThrottleConfig, Deferred()] = ThrottleConfig.model_construct()
    responses: Annotated[ResponsesConfig, Deferred()] = ResponsesConfig.model_construct()

    # Derived by validation from the rules alone (no I/O): the one compiled-rule tuple, which
    # the tools read and the runtime shares (see routeguard.policy.build).
    _compiled: tuple[CompiledRule, ...] = PrivateAttr(default=())
    # Per rule, in order: the Rule it was given as, or the record of a rule compiled without one.
    _sources: tuple[Rule | _Record, ...] = PrivateAttr(default=())

    def __init__(self, /, **data: Any) -> None:
        rules = data.get("rules")
        prepared = None
        fields = data
        token = _IN_POLICY.set(True)
        if type(rules) is list or type(rules) is tuple:  # anything else: the model validates it
            try:
                prepared = _Prepared(rules, consume=rules is _CONSUMABLE.get())
            except BaseException:
                _IN_POLICY.reset(token)
                raise
            fields = {**data, "rules": []}
        prepared_token = _PREPARED.set(prepared)
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            errors: list[Mapping[str, Any]] = list(exc.errors(include_url=False))
            if prepared is not None:
                errors = _in_field_order(errors, prepared.errors)
            raise PolicyError(_describe(errors, data)) from None
        finally:
            _PREPARED.reset(prepared_token)
            _IN_POLICY.reset(token)
        if prepared is not None and prepared.errors:
            raise PolicyError(_describe(prepared.errors, data))

    def _rule_objects(self) -> list[Rule]:
        return [source if isinstance(source, Rule) else _rebuilt(source, rule)
                for source, rule in zip(self._sources, self._compiled, strict=True)]

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # ``rules`` of a policy whose rules were compiled without Rule objects: built once,
            # on first use (the engine, the build and the tools read compiled_rules).
            if name == "rules" and self.__pydantic_private__ is not None:
                return self._with_rules()
            return super().__getattr__(name)

    def _with_rules(self) -> list[Rule]:
        """``rules``, put in the model's dict in field order (pydantic's code reads the dict)."""
        fields = self.__dict__
        rules: list[Rule] | None = fields.get("rules")
        if rules is None:
            rules = self._rule_objects()
            after = [(name, fields.pop(name)) for name in _AFTER_RULES if name in fields]
            fields["rules"] = rules
            fields.update(after)
        return rules

    def __eq__(self, other: object) -> bool:
        self._with_rules()
        if isinstance(other, Policy):
            other._with_rules()
        return super().__eq__(other)

    def __hash__(self) -> int:  # pydantic's frozen-model hash (an __eq__ defined here drops it)
        fields = self.__dict__
        self._with_rules()
        return hash(tuple(fields[name] for name in type(self).model_fields))

    def __iter__(self) -> Any:
        self._with_rules()
        return super().__iter__()

    def __repr_args__(self) -> Any:
        self._with_rules()
        return super().__repr_args__()

    def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._with_rules()
        return super().model_dump(*args, **kwargs)

    def model_dump_json(self, *args: Any, **kwargs: Any) -> str:
        self._with_rules()
        return super().model_dump_json(*args, **kwargs)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "Policy":
        """A new, fully validated policy with ``update`` applied (never the old runtime)."""
        data = {name: getattr(self, name) for name in type(self).model_fields if name != "rules"}
        data["rules"] = self.__dict__.get("rules") or self._rule_objects()
        return type(self)(**{**data, **(update or {})})

    def rule_checks(self) -> Iterator[tuple[CompiledRule, Any]]:
        """Each rule that has an ownership ``check``, with the check as given (a
        ``'package.module:function'`` reference or a callable)."""
        for source, rule in zip(self._sources, self._compiled, strict=True):
            if rule.check_name is not None:
                yield rule, source.check if isinstance(source, Rule) else rule.check_name

    def __copy__(self) -> "Policy":
        return self.model_copy()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> "Policy":
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
    def _compile(self) -> "Policy":
        prepared = _PREPARED.get()
        if prepared is None:  # no rules, or not a list: the model validated them
            rules = self.__dict__["rules"]
            self._compiled = tuple(rule.compile(i) for i, rule in enumerate(rules))
            self._sources = tuple(rules)
        elif prepared.errors:
            return self  # __init__ reports them (an invalid field stops the other checks here too)
        else:
            self._compiled, self._sources = tuple(prepared.compiled), tuple(prepared.sources)
            del self.__dict__["rules"]  # built on first use from the compiled rules (see __getattr__)
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
    def from_toml(cls, path: str | os.PathLike[str], *, resolve_secrets: bool = True) -> "Policy":
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
        data = toml.parse(text, str(file))
        del text  # a large policy's text is not kept while its rules are compiled
        return cls._from_data(data, base_dir=file.parent, source=str(file), resolve_secrets=resolve_secrets)

    @classmethod
    def from_toml_string(
        cls,
        text: str,
        *,
        base_dir: Path | None = None,
        source: str = "<policy>",
        resolve_secrets: bool = True,
    ) -> "Policy":
        """Load, validate and (unless ``resolve_secrets=False``) build a policy from TOML text."""
        return cls._from_data(toml.parse(text, source), base_dir=base_dir, source=source,
                              resolve_secrets=resolve_secrets)

    @classmethod
    def _from_data(cls, data: dict[str, Any], *, base_dir: Path | None, source: str, resolve_secrets: bool) -> "Policy":
        token = _CONSUMABLE.set(data.get("rules"))  # parsed here: its tables may go once compiled
        try:
            with loading(base_dir):
                policy = cls(**data)
            if resolve_secrets:
                from .build import runtime_for  # the loader's one step up; not for linting (import cost)

                runtime_for(policy)
        except PolicyError as exc:
            raise PolicyError(f"{source}: {exc}") from None
        finally:
            _CONSUMABLE.reset(token)
        return policy


# -- error messages --------------------------------------------------------------------------

_MODELS: dict[str, type[BaseModel]] = {
    "": Policy, "rules": Rule, "auth": AuthConfig, "auth.bearer": BearerConfig,
    "auth.session": SessionConfig, "auth.api_key": APIKeyConfig, "auth.api_key.keys": APIKeyEntry,
    "store": StoreConfig, "firewall": FirewallConfig, "csrf": CSRFConfig, "throttle": ThrottleConfig,
    "responses": ResponsesConfig, "auth.signed_cookie": SignedCookieConfig,
}  # fmt: skip


_RULE_FIELDS = frozenset(Rule.model_fields)
_BEFORE_RULES = frozenset(itertools.takewhile(lambda name: name != "rules", Policy.model_fields))
_AFTER_RULES = tuple(name for name in Policy.model_fields if name not in _BEFORE_RULES and name != "rules")

_CHOICES: dict[str, tuple[str, ...]] = {"access": ACCESS_VALUES, "method_override": OVERRIDE_MODES}


def _rule_label(data: Mapping[str, Any], index: int) -> str:
    rules = data.get("rules")
    path = None
    if isinstance(rules, Sequence) and 0 <= index < len(rules):
        item = rules[index]
        path = item.get("path") if isinstance(item, Mapping) else getattr(item, "path", None)
    return f"rule #{index + 1} (path {path!r})" if path is not None else f"rule #{index + 1}"


def _in_field_order(errors: list[Mapping[str, Any]], rule_errors: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The policy's field errors and its rules' errors (validated apart) in the model's order."""
    before = [error for error in errors if error["loc"] and error["loc"][0] in _BEFORE_RULES]
    return [*before, *rule_errors, *(error for error in errors if error not in before)]


def _describe(errors: Sequence[Mapping[str, Any]], data: Mapping[str, Any], single_rule: bool = False) -> str:
    """Turn pydantic's errors into lines naming the rule position, path and key."""
    lines = []
    for error in errors:
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
                close = _close(unknown, list(model.model_fields))
                if close:
                    message += f" (did you mean {close[0]!r}?)"
            key = ".".join(p for p in dotted[:-1] if p != "rules")
        elif error["type"] == "value_error":
            cause = error.get("ctx", {}).get("error")
            message = str(cause) if cause is not None else error["msg"]
        elif error["type"] == "literal_error" and dotted and dotted[-1] in _CHOICES:
            choices = _CHOICES[dotted[-1]]
            message = f"{error['input']!r} is not one of {', '.join(map(repr, choices))}"
            close = _close(str(error["input"]), choices)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        else:
            message = error["msg"]
        parts = [p for p in (where, key) if p]
        lines.append(f"{': '.join(parts)}: {message}" if parts else message)
    return "; ".join(lines)
