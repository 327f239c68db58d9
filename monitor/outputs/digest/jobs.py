"""Running digests: build, write the files, send, remember what was sent; on schedule and at start.

Files come first and always: `<folder>/<digest>/<YYYY-MM-DD>/<topic>.{md,html,json}`, each
replaced atomically, so a failed e-mail or webhook never costs the digest itself. Every output
of a run is recorded in `digest_run` (digest, day, output): a re-run rewrites the files but does
not send an output that already went out, unless asked to (`--resend`). A failed send stays
`failed` with its reason and is tried again by the next run of that day, including the catch-up
at start-up, which builds the digests whose scheduled time passed while nothing was running.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import col

from monitor.config.digests import Digest
from monitor.outputs.deliver import (
    DeliveryError,
    build_email,
    post_webhook,
    send_email,
    with_retries,
    write_atomic,
)
from monitor.outputs.digest.build import TopicDigest, build_topic_digest
from monitor.outputs.digest.render import (
    render_html,
    render_json,
    render_markdown,
    slack_digest,
    subject,
)
from monitor.store.db import Store, utcnow
from monitor.store.models import DigestRun

log = logging.getLogger(__name__)

__all__ = [
    "DigestReport",
    "OutputResult",
    "catch_up",
    "digest_runs",
    "missed_days",
    "previous_day",
    "run_digest",
    "schedule_digests",
]

CATCH_UP = timedelta(days=7)  # scheduled runs missed longer ago than this are not built at start-up
MAX_FIRES = 20_000  # bound on walking a cron schedule (every minute for a week is 10,080)


@dataclass(frozen=True)
class OutputResult:
    output: str  # folder | email | webhook
    status: str  # ok | failed | skipped
    detail: str  # in words


@dataclass
class DigestReport:
    digest: str
    day: date
    files: list[Path] = field(default_factory=list)
    outputs: list[OutputResult] = field(default_factory=list)
    posts: int = 0  # posts of the day in every topic built: 0 usually means the wrong store or date

    @property
    def ok(self) -> bool:
        return all(o.status != "failed" for o in self.outputs)


def previous_day(digest: Digest, now: datetime) -> date:
    """The day a run at `now` reports on: the day before, in the digest's time zone."""
    return now.astimezone(digest.zone).date() - timedelta(days=1)


def run_digest(
    config: Any,
    store: Store,
    digest: Digest,
    day: date,
    *,
    topic: str | None = None,
    send: bool = False,
    resend: bool = False,
    now: datetime | None = None,
    env: Mapping[str, str] = os.environ,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 4,
    stop: threading.Event | None = None,
) -> DigestReport:
    """Build `digest` for `day`, write its files, and with `send` deliver it (at most once).

    `topic` restricts the run to one topic; its deliveries are recorded as `<digest>:<topic>`,
    so sending one topic never counts as having sent the whole digest.
    """
    now = now or utcnow()
    topics = [t for t in config.digest_topics(digest) if topic is None or t.name == topic]
    if topic is not None and not topics:
        raise KeyError(f"digest {digest.name!r} does not cover topic {topic!r}")
    key = digest.name if topic is None else f"{digest.name}:{topic}"
    report = DigestReport(key, day)
    built = [_build(config, store, digest, t, day, now) for t in topics]
    report.posts = sum(d.volume.total for d in built)
    heading = f"Digest {digest.name} · {day.isoformat()}"
    folder = config.digest_folder(digest) / digest.name / day.isoformat()
    for d in built:
        for suffix, data in (
            ("md", render_markdown([d], heading)),
            ("html", render_html([d], heading).html),
            ("json", render_json(d)),
        ):
            path = folder / f"{d.topic}.{suffix}"
            write_atomic(path, data.encode("utf-8"))
            report.files.append(path)
    _record(
        store, key, day, "folder", "ok", 0, None, {"files": [str(p) for p in report.files]}, now
    )
    report.outputs.append(OutputResult("folder", "ok", f"{len(report.files)} files in {folder}"))
    if not send:
        return report
    previous = _runs(store, key, day)
    senders: list[tuple[str, Callable[[], str]]] = []
    if digest.email is not None:
        senders.append(("email", lambda: _send_email(digest, built, heading, day, env)))
    if digest.webhook is not None:
        senders.append(("webhook", lambda: _send_webhook(digest, built, day, env)))
    for output, action in senders:
        before = previous.get(output)
        if before is not None and before["status"] == "ok" and not resend:
            when = (
                before["sent_at"].isoformat(timespec="seconds") if before["sent_at"] else "earlier"
            )
            report.outputs.append(
                OutputResult(output, "skipped", f"already sent at {when}; --resend sends it again")
            )
            continue
        try:
            detail, used = with_retries(action, attempts=attempts, sleep=sleep, stop=stop)
        except DeliveryError as exc:
            _record(store, key, day, output, "failed", attempts, exc.message, {}, now)
            report.outputs.append(OutputResult(output, "failed", exc.message))
            log.warning("digest %s for %s: %s not delivered: %s", key, day, output, exc.message)
            continue
        _record(store, key, day, output, "ok", used, None, {"sent": detail}, now, sent=True)
        report.outputs.append(OutputResult(output, "ok", detail))
    return report


def _build(
    config: Any, store: Store, digest: Digest, topic: Any, day: date, now: datetime
) -> TopicDigest:
    sources = [s.name for s in config.sources if topic in config.topics_for(s)]
    return build_topic_digest(
        store,
        digest=digest.name,
        topic=topic.name,
        title=topic.display_name,
        day=day,
        zone=digest.zone,
        sources=sources,
        settings=config.alerts.for_topic(topic.name),
        now=now,
        top_posts=digest.top_posts,
    )


def _send_email(
    digest: Digest, built: list[TopicDigest], heading: str, day: date, env: Mapping[str, str]
) -> str:
    email = digest.email
    assert email is not None
    rendered = render_html(built, heading, email=True)
    msg = build_email(
        sender=email.sender,
        to=email.to,
        subject=subject(digest.name, day.isoformat(), built),
        text=render_markdown(built, heading),
        html=rendered.html,
        images=rendered.images,
    )
    send_email(email, msg, env)
    return f"e-mailed to {len(email.to)} recipient(s) via {email.host}"


def _send_webhook(
    digest: Digest, built: list[TopicDigest], day: date, env: Mapping[str, str]
) -> str:
    webhook = digest.webhook
    assert webhook is not None
    if webhook.format == "slack":
        payload = slack_digest(digest.name, day.isoformat(), built)
    else:
        payload = json.loads(
            render_json(
                built,
                type="digest",
                digest=digest.name,
                date=day.isoformat(),
                timezone=digest.timezone,
            )
        )
    post_webhook(webhook, payload, env)
    return f"posted to the webhook ({webhook.format})"


# --- the record of runs ---------------------------------------------------------------------


def _runs(store: Store, key: str, day: date) -> dict[str, dict[str, Any]]:
    with store.read() as conn:
        rows = (
            conn.execute(
                select(DigestRun).where(col(DigestRun.digest) == key, col(DigestRun.day) == day)
            )
            .mappings()
            .all()
        )
    return {r["output"]: dict(r) for r in rows}


def _record(
    store: Store,
    key: str,
    day: date,
    output: str,
    status: str,
    attempts: int,
    error: str | None,
    detail: dict[str, Any],
    now: datetime,
    sent: bool = False,
) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": now, "error": error, "detail": detail}
    if sent:
        values["sent_at"] = now
    where = (
        col(DigestRun.digest) == key,
        col(DigestRun.day) == day,
        col(DigestRun.output) == output,
    )
    with store.write() as conn:
        row = conn.execute(select(col(DigestRun.attempts)).where(*where)).first()
        if row is None:
            conn.execute(
                insert(DigestRun).values(
                    digest=key, day=day, output=output, attempts=attempts, **values
                )
            )
        else:
            conn.execute(
                update(DigestRun).where(*where).values(attempts=row.attempts + attempts, **values)
            )


def digest_runs(store: Store, since: date | None = None) -> list[dict[str, Any]]:
    """What was built and sent, newest day first (for `monitor digest --list` and status views)."""
    q = select(DigestRun).order_by(
        col(DigestRun.day).desc(), col(DigestRun.digest), col(DigestRun.output)
    )
    if since is not None:
        q = q.where(col(DigestRun.day) >= since)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


# --- schedule and catch-up ------------------------------------------------------------------


def _outputs(digest: Digest) -> list[str]:
    return (
        ["folder"] + (["email"] if digest.email else []) + (["webhook"] if digest.webhook else [])
    )


def missed_days(store: Store, digest: Digest, now: datetime) -> list[date]:
    """Days whose scheduled run fell within the last 7 days and whose outputs are not all done.

    A digest that has never run gets only its latest day, not a week of e-mails at once; days
    before its first recorded run are left alone for the same reason.
    """
    trigger = digest.trigger()
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now - CATCH_UP)
    while fire is not None and fire <= now and len(fires) < MAX_FIRES:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    days = sorted({previous_day(digest, f) for f in fires})
    if not days:
        return []
    with store.read() as conn:
        rows = conn.execute(
            select(col(DigestRun.day), col(DigestRun.output), col(DigestRun.status)).where(
                col(DigestRun.digest) == digest.name
            )
        ).all()
    if not rows:
        return days[-1:]
    first = min(r.day for r in rows)
    done = {(r.day, r.output) for r in rows if r.status == "ok"}
    return [d for d in days if d >= first and any((d, o) not in done for o in _outputs(digest))]


def catch_up(
    config: Any,
    store: Store,
    *,
    clock: Callable[[], datetime] = utcnow,
    env: Mapping[str, str] = os.environ,
    stop: threading.Event | None = None,
) -> list[DigestReport]:
    """Build and send what the schedule missed while nothing was running."""
    reports: list[DigestReport] = []
    for digest in config.digests:
        for day in missed_days(store, digest, clock()):
            if stop is not None and stop.is_set():
                return reports
            log.info("digest %s for %s was missed; building it now", digest.name, day)
            reports.append(_guarded(config, store, digest, day, clock, env, stop))
    return reports


def _guarded(
    config: Any,
    store: Store,
    digest: Digest,
    day: date,
    clock: Callable[[], datetime],
    env: Mapping[str, str],
    stop: threading.Event | None = None,
) -> DigestReport:
    """A scheduled run must never take the scheduler down; its failure is logged in words."""
    try:
        report = run_digest(config, store, digest, day, send=True, now=clock(), env=env, stop=stop)
    except Exception:
        log.exception("digest %s for %s could not be built", digest.name, day)
        return DigestReport(
            digest.name, day, outputs=[OutputResult("folder", "failed", "could not be built")]
        )
    for o in report.outputs:
        log.info("digest %s for %s: %s %s (%s)", digest.name, day, o.output, o.status, o.detail)
    return report


def _scheduled(
    config: Any,
    store: Store,
    digest: Digest,
    clock: Callable[[], datetime],
    env: Mapping[str, str],
    stop: threading.Event | None = None,
) -> None:
    _guarded(config, store, digest, previous_day(digest, clock()), clock, env, stop)


def schedule_digests(
    scheduler: Any,
    config: Any,
    store: Store,
    *,
    clock: Callable[[], datetime] = utcnow,
    env: Mapping[str, str] = os.environ,
    stop: threading.Event | None = None,
) -> None:
    """One cron job per digest and a catch-up at start, on an executor of their own.

    A digest's retries may wait minutes; its own single thread keeps that from delaying polls.
    """
    if not config.digests:
        return
    from apscheduler.executors.pool import ThreadPoolExecutor

    scheduler.add_executor(ThreadPoolExecutor(max_workers=1), alias="digests")
    for digest in config.digests:
        scheduler.add_job(
            _scheduled,
            digest.trigger(),
            args=[config, store, digest, clock, env, stop],
            id=f"digest:{digest.name}",
            name=f"digest {digest.name}",
            executor="digests",
        )
    scheduler.add_job(
        catch_up,
        "date",
        args=[config, store],
        kwargs={"clock": clock, "env": env, "stop": stop},
        id="digest:catch-up",
        name="missed digests",
        executor="digests",
    )
