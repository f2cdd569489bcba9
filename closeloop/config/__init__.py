"""Configuration file (TOML) validated with pydantic and turned into domain objects.

Shape (see ``closeloop/config/default.toml`` for a full example)::

    [departments.<name>]   display_name, lead, notify, calendar
    [triage]               TriagePolicy fields
    [dedupe]               window_days
    [[rules]]              name, severity?,
                           [rules.when] fact = [values] | {equals, prefix, contains, regex, ignore_case},
                           [[rules.tasks]] department, kind, title, instructions?, depends_on?
    [fallback]             [[fallback.tasks]] as above (the triage queue)
    [webhooks.<name>]      url, secret_env, previous_secret_env?: a webhook target's own signing secret
                           (names of environment variables, read when the file loads)

Errors are :class:`ConfigError` with the dotted path of the bad field.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from closeloop.domain.errors import InvalidInput
from closeloop.domain.routing import Matcher, Router, RoutingRule, TaskTemplate
from closeloop.domain.sla import SlaPolicy, SlaTargets, hours
from closeloop.domain.triage import DEFAULT_WEIGHTS, Triage, TriagePolicy
from integrations.calendars import holiday_calendar  # holidays package: outside the domain
from integrations.webhook_keys import SigningKeys, WebhookSecretError, target_keys
from integrations.webhook_urls import webhook_key

from .schema import (
    ConfigError,
    ConfigModel,
    DepartmentModel,
    MatcherModel,
    TargetsModel,
    TaskModel,
)

DEFAULT_CONFIG_NAME = "default.toml"


@dataclass(frozen=True)
class Config:
    """A validated configuration: departments, triage policy, routing rules, de-dup window."""

    model: ConfigModel
    text: str
    source: str

    @property
    def departments(self) -> dict[str, DepartmentModel]:
        return self.model.departments

    @property
    def version_hash(self) -> str:
        """SHA-256 of the file's text: identifies the routing-config version used for a complaint."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def dedupe_window(self) -> timedelta:
        return timedelta(days=self.model.dedupe.window_days)

    @cached_property
    def triage(self) -> Triage:
        t = self.model.triage
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                  for k, v in t.model_dump().items() if v is not None}
        if "weights" in kwargs:
            kwargs["weights"] = {**DEFAULT_WEIGHTS, **kwargs["weights"]}
        media = kwargs.pop("media_keywords", ())  # deprecated: each word alone is an intent, as it used to flag
        if media:
            phrases = kwargs.get("exposure_phrases", TriagePolicy.exposure_phrases)
            kwargs["exposure_phrases"] = (*phrases, *(w for w in media if w not in phrases))
        return Triage(TriagePolicy(**kwargs))

    @cached_property
    def router(self) -> Router:
        return build_router(self.model)

    @cached_property
    def sla(self) -> SlaPolicy:
        m = self.model.sla

        def t(x: TargetsModel) -> SlaTargets:
            return SlaTargets(hours(x.acknowledge), hours(x.resolve), hours(x.update))

        return SlaPolicy(
            targets={k: t(v) for k, v in m.targets.items()},
            department_targets={d: {k: t(v) for k, v in sev.items()} for d, sev in m.departments.items()},
            customer_targets={k: t(v) for k, v in m.customer.items()},
            at_risk_ratio=m.at_risk_ratio,
        )

    @property
    def triage_department(self) -> str:
        """The configured triage queue: the department of the first ``[[fallback.tasks]]`` (where a complaint no
        rule routes goes, and where work goes back when no department is known)."""
        return self.model.fallback.tasks[0].department

    @property
    def follow_up_department(self) -> str:
        """Where customer follow-up tasks go (``[follow_up] department``)."""
        fu = self.model.follow_up.department
        if fu:
            return fu
        return "service" if "service" in self.departments else self.triage_department

    def calendar(self, name: str):
        """The :class:`~closeloop.domain.calendar.BusinessCalendar` called ``name`` (built once)."""
        cache = self.__dict__.setdefault("_calendars", {})
        if name not in cache:
            spec = self.model.calendars.get(name)
            if spec is None:
                raise ConfigError(f"{self.source}: calendars.{name}: no such calendar (configured: "
                                  f"{', '.join(sorted(self.model.calendars)) or 'none'})")

            try:
                cache[name] = holiday_calendar(spec.timezone, spec.hours, country=spec.country,
                                               subdivision=spec.subdivision, extra_closed=spec.extra_closed,
                                               extra_open=spec.extra_open, name=name)
            except InvalidInput as exc:
                raise ConfigError(f"{self.source}: calendars.{name}.{exc.field}: {exc.problem}") from None
        return cache[name]

    def department_calendar(self, department: str):
        dep = self.departments.get(department)
        return self.calendar(dep.calendar if dep else self.model.sla.customer_calendar)

    @property
    def customer_calendar(self):
        return self.calendar(self.model.sla.customer_calendar)

    def webhook_keys(self, environ: Mapping[str, str] | None = None) -> dict[str, SigningKeys]:
        """The signing keys of the webhook targets with a secret of their own, by target URL (``[webhooks.*]``
        ``url`` in :func:`integrations.webhook_urls.webhook_key` form), read from ``environ`` (default
        ``os.environ``); a target not listed is signed with
        ``CLOSELOOP_WEBHOOK_SECRET``. Raises :class:`ConfigError` naming the file, the target and the variable
        (never its value) for an unset or malformed variable."""
        env = os.environ if environ is None else environ
        keys = {}
        for name, hook in self.model.webhooks.items():
            try:
                keys[webhook_key(hook.url)] = target_keys(f"webhooks.{name}", hook.secret_env,
                                                          hook.previous_secret_env, env)
            except WebhookSecretError as exc:
                raise ConfigError(f"{self.source}: {exc}") from None
        return keys


    def unmatched_webhooks(self) -> list[str]:
        """One warning line per ``[webhooks.*]`` url that no notify field of this file names (compared in
        :func:`integrations.webhook_urls.webhook_key` form): likely a notify field respelled (``//hook``, a trailing
        slash), whose messages would then be signed with the global secret. A warning, not an error: a user's
        ``notify`` (kept in the database) or rows already queued may still use the url."""
        used = {webhook_key(t) for t in _notify_fields(self.model.model_dump()) if t}
        return [f"{self.source}: webhooks.{name}.url: {hook.url!r} matches no notify field of the configuration "
                "(only a user's notify target or a queued message would be signed with its secret)"
                for name, hook in self.model.webhooks.items() if webhook_key(hook.url) not in used]


def _notify_fields(data: Any) -> list[str]:
    """Every string value of a key ending in ``notify`` in the dumped model ``data``, at any depth."""
    if isinstance(data, list):
        return [t for item in data for t in _notify_fields(item)]
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        if isinstance(value, str) and str(key).endswith("notify"):
            found.append(value)
        else:
            found.extend(_notify_fields(value))
    return found


def _task(t: TaskModel) -> TaskTemplate:
    return TaskTemplate(t.department, t.kind, t.title, t.instructions, tuple(t.depends_on))


def _matcher(v: list[str] | MatcherModel) -> Matcher:
    if isinstance(v, list):
        return Matcher(equals=tuple(v))
    return Matcher(tuple(v.equals), tuple(v.prefix), tuple(v.contains), tuple(v.regex), v.ignore_case)


def build_router(model: ConfigModel) -> Router:
    rules = []
    for i, r in enumerate(model.rules):
        when = {}
        for k, v in r.when.items():
            try:
                when[k] = _matcher(v)
            except re.error as exc:
                raise InvalidInput(f"rules[{i}] ({r.name}).when.{k}.regex", f"bad regular expression: {exc}") from None
        rules.append(RoutingRule(r.name, when, tuple(_task(t) for t in r.tasks), r.severity))
    return Router(rules, [_task(t) for t in model.fallback.tasks], frozenset(model.departments))


def parse_config(text: str, source: str = "<string>", environ: Mapping[str, str] | None = None) -> Config:
    """Validate TOML ``text``; the secrets ``[webhooks.*]`` name are read from ``environ`` (default
    ``os.environ``) and checked too. Raises :class:`ConfigError` naming the file and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: invalid configuration"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    cfg = Config(model, text, source)
    names = [r.name for r in model.rules]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{source}: rules: names must be unique; repeated: {', '.join(repeated)}")
    for name, dep in model.departments.items():
        if dep.calendar not in model.calendars:
            raise ConfigError(f"{source}: departments.{name}.calendar: no calendar named {dep.calendar!r} "
                              f"(defined: {', '.join(sorted(model.calendars))})")
    for role in ("operations_manager", "crisis_owner"):
        person = getattr(model.escalation, role)
        if person.calendar not in model.calendars:
            raise ConfigError(f"{source}: escalation.{role}.calendar: no calendar named {person.calendar!r}")
    if model.follow_up.department is not None and model.follow_up.department not in model.departments:
        raise ConfigError(f"{source}: follow_up.department: unknown department {model.follow_up.department!r}")
    if model.sla.customer_calendar not in model.calendars:
        raise ConfigError(f"{source}: sla.customer_calendar: no calendar named {model.sla.customer_calendar!r}")
    for dep_name in model.sla.departments:
        if dep_name not in model.departments:
            raise ConfigError(f"{source}: sla.departments.{dep_name}: unknown department")
    _check_webhooks(cfg, environ)
    try:
        cfg.router  # noqa: B018 - validate rules now, not at first use
        cfg.triage  # noqa: B018
        for name in model.calendars:
            cfg.calendar(name)
    except ConfigError:
        raise
    except (InvalidInput, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cfg


def _check_webhooks(cfg: Config, environ: Mapping[str, str] | None) -> None:
    """Each ``[webhooks.*]`` url once, and every secret they name set and well formed (:meth:`Config.webhook_keys`:
    refused when the file loads, not at the first delivery). Raises :class:`ConfigError`."""
    seen: dict[str, str] = {}
    for name, hook in cfg.model.webhooks.items():
        key = webhook_key(hook.url)
        if key in seen:
            raise ConfigError(f"{cfg.source}: webhooks.{name}.url: the same url as webhooks.{seen[key]}; "
                              "one target, one secret")
        seen[key] = name
    cfg.webhook_keys(environ)


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load ``path`` or, when None, the bundled default configuration (``environ``: as :func:`parse_config`)."""
    if path is None:
        text = resources.files("closeloop.config").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
        return parse_config(text, f"closeloop/config/{DEFAULT_CONFIG_NAME}", environ)
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; TOML files are UTF-8") from None
    return parse_config(text, str(p), environ)
