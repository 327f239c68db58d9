"""The `digests:` and `alerts:` sections of feeds.yaml, as pydantic models.

Kept apart from monitor/config/feeds.py, which owns the document and how problems are placed and
phrased: these models only say what is valid. A validator raises ValueError with a sentence for
a person; config.py turns it into `PATH:LINE:COLUMN: message` at the offending value.

Schedules are standard crontab lines (minute hour day-of-month month day-of-week) read in an IANA
time zone. APScheduler 3 numbers weekdays from Monday = 0, while every crontab a user has seen
counts Sunday = 0 (and 7), so the weekday field is translated here, once, into day names.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from email.utils import parseaddr
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from monitor.sources.base import Duration

if TYPE_CHECKING:  # pragma: no cover
    from apscheduler.triggers.cron import CronTrigger

__all__ = [
    "AlertSettings",
    "AlertsConfig",
    "Digest",
    "EmailOutput",
    "WebhookOutput",
    "cron_trigger",
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# --- schedules --------------------------------------------------------------------------------


def _weekday(token: str) -> int:
    """A crontab weekday: 0-7 (0 and 7 are Sunday) or a three-letter English name."""
    name = token.strip().lower()
    if name in _DAYS:
        return _DAYS.index(name)
    if name.isdigit() and 0 <= int(name) <= 7:
        return int(name) % 7
    raise ValueError(
        f"{token!r} is not a weekday (use 0-7, where 0 and 7 are Sunday, or sun, mon, ...)"
    )


def _weekdays(field: str) -> str:
    """The crontab weekday field as APScheduler day names, with Sunday = 0 as in crontab(5)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{part!r}: the step after '/' must be a positive whole number")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _weekday(a), _weekday(b)
            last = 7 if last == 0 and b.strip() in ("7", "sun") and first > 0 else last
            if last < first:
                raise ValueError(
                    f"{part!r}: a weekday range must run forwards (e.g. 1-5 for Monday to Friday)"
                )
        else:
            first = last = _weekday(base)
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    return ",".join(_DAYS[d] for d in sorted(days))


def cron_trigger(expr: str, tz: str) -> CronTrigger:
    """An APScheduler trigger for a standard five-field crontab line in time zone `tz`."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}"
        )
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekdays(weekday),
        timezone=ZoneInfo(tz),
    )


def _schedule(value: str) -> str:
    expr = " ".join(value.split())
    try:
        cron_trigger(expr, "UTC")
    except ValueError as exc:
        raise ValueError(
            f"{expr!r} is not a valid cron schedule: {exc}; e.g. '0 7 * * *' is 07:00 every day, "
            "'30 6 * * 1-5' is 06:30 Monday to Friday"
        ) from None
    return expr


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: str) -> str:
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(_zones()), n=1, cutoff=0.6)
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else " (use an IANA name such as Europe/Berlin or UTC)"
        )
        raise ValueError(f"unknown time zone {name!r}{hint}") from None
    return name


# --- outputs ----------------------------------------------------------------------------------


def _env_name(value: str) -> str:
    """Never echoes the value: when it is not a name, it is most likely the secret itself."""
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            "must be the NAME of an environment variable (letters, digits and '_'), "
            "never the secret itself"
        )
    return value


def _address(value: str) -> str:
    """An e-mail address, optionally with a display name: 'Monitor <monitor@example.org>'."""
    _name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in addr):
        raise ValueError(f"{value!r} is not an e-mail address (e.g. monitor@example.org)")
    return value.strip()


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid digest name: use lowercase letters, digits, '-' and '_' "
            "(it becomes a folder name)"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]
Address = Annotated[str, AfterValidator(_address)]


class EmailOutput(BaseModel):
    """SMTP delivery. Credentials come from environment variables named here, never the file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    user_env: EnvName | None = None
    password_env: EnvName | None = None
    sender: Address = Field(alias="from")
    to: Annotated[list[Address], Field(min_length=1)]
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _credentials(self) -> EmailOutput:
        if (self.user_env is None) != (self.password_env is None):
            raise ValueError(
                "set both 'user_env' and 'password_env', or neither (for a server without login)"
            )
        if (
            self.password_env
            and self.security == "none"
            and self.host.strip().lower() not in _LOCAL_HOSTS
        ):
            raise ValueError(
                "a password would cross the network unencrypted: use security: starttls or tls "
                "(security: none is only for a relay on this machine)"
            )
        return self

    @property
    def smtp_port(self) -> int:
        """The port the security mode implies unless one is given: 465 for TLS, 587 for STARTTLS."""
        return self.port or {"tls": 465, "starttls": 587, "none": 25}[self.security]


class WebhookOutput(BaseModel):
    """An HTTP POST of JSON: Slack-compatible (`{"text", "blocks"}`) or the plain data.

    A Slack incoming-webhook URL is itself a secret, hence `url_env`; `url` is for endpoints
    whose address gives nothing away.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl | None = None
    url_env: EnvName | None = None
    format: Literal["slack", "json"] = "json"
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookOutput:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(
                "set exactly one of 'url' and 'url_env' (the name of a variable holding the URL)"
            )
        return self


class Digest(BaseModel):
    """One daily digest: when it runs, what it covers, where it goes.

    A run covers the local day before the one it runs in (a 07:00 run reports on yesterday), so
    every digest describes a complete day. Files are always written; e-mail and webhook are extra.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, AfterValidator(_name)]
    schedule: Annotated[str, AfterValidator(_schedule)] = "0 7 * * *"
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    topics: list[str] | None = None  # None: every topic
    folder: Annotated[str, Field(min_length=1)] | None = None  # default: <storage_dir>/digests
    top_posts: Annotated[int, Field(ge=1, le=20)] = 3
    email: EmailOutput | None = None
    webhook: WebhookOutput | None = None

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.schedule, self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --- alerts -----------------------------------------------------------------------------------


class AlertSettings(BaseModel):
    """Detector settings for one topic (metrics.md §4); every field has the documented default.

    `alpha_recent` applies while a topic has less than 7 days of history and its volume baseline
    is the 7 previous hours instead of the same hour on the 7 previous days: those hours rise and
    fall with the daily rhythm, and at 0.025 every morning's rise would alarm.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    volume: bool = True
    sentiment: bool = True
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.025
    alpha_recent: Annotated[float, Field(gt=0, lt=0.5)] = 0.001
    ewma_limit: Annotated[float, Field(gt=0)] = 3.0
    min_excess: Annotated[int, Field(ge=0)] = 5
    min_posts: Annotated[int, Field(ge=2)] = 5
    cooldown: Duration = timedelta(hours=2)  # 0s turns it off


class AlertsConfig(BaseModel):
    """Live spike alerts: on unless `enabled: false`; sent when a webhook is configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    webhook: WebhookOutput | None = None
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"  # for the times an alert names
    defaults: AlertSettings = AlertSettings()
    topics: dict[str, AlertSettings] = {}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def for_topic(self, name: str) -> AlertSettings:
        """Defaults, overridden by whatever the topic's own entry sets (and only that)."""
        override = self.topics.get(name)
        if override is None:
            return self.defaults
        return self.defaults.model_copy(
            update={k: getattr(override, k) for k in override.model_fields_set}
        )
