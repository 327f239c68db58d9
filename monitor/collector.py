"""The collector: one APScheduler job per source, with backoff that never gives up.

Each source polls at its interval with a little jitter (so many sources do not hit at once),
one run at a time, missed runs coalesced. A failing source waits exponentially longer (with
jitter, and never less than the server's Retry-After), up to a cap, and keeps trying forever:
the story may break while a feed is down, and the first successful poll should pick it up.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

import httpx
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, update
from sqlmodel import col

from monitor.core.faults import Fault, FaultLog
from monitor.ingest.poll import Ingestor, PollOutcome
from monitor.outputs.alerts import AlertMonitor
from monitor.outputs.digest.jobs import schedule_digests
from monitor.sources import source_class
from monitor.sources.base import Source
from monitor.sources.http import abort as abort_requests
from monitor.sources.http import make_client
from monitor.store.db import Store, utcnow
from monitor.store.leases import Leases, collector_id
from monitor.store.models import SourceState

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=24)


def backoff_delay(
    interval: timedelta,
    failures: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    """How long to wait after the `failures`-th failure in a row.

    interval × 2^(failures−1), capped at max(interval, min(16 × interval floored at 1 min, 1 h)),
    ±20% jitter so that sources failing together do not retry together, and never sooner than
    the server's Retry-After (itself capped at a day, in case a server sends nonsense).
    """
    uniform = rng.uniform if rng is not None else random.uniform
    if failures <= 0:
        return interval
    cap = max(interval, min(max(interval * 16, timedelta(minutes=1)), MAX_BACKOFF))
    base = min(interval * (2 ** min(failures - 1, 20)), cap)
    delay = base * uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


def build_sources(config, http: httpx.Client) -> list[Source]:
    """Instantiate every enabled source with the topics it serves."""
    sources = []
    for settings in config.sources:
        if not settings.enabled:
            continue
        cls = source_class(settings.kind)
        sources.append(cls(settings, config.topics_for(settings), http))
    return sources


class Collector:
    """Polls the configured sources into the store, on a schedule or on demand."""

    def __init__(
        self,
        config,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        http: httpx.Client | None = None,
        ingestor: Ingestor | None = None,
        on_poll: Callable[[PollOutcome], None] | None = None,
    ):
        self.config = config
        self.store = store
        self.clock = clock
        self.http = http or make_client()
        self.sources = {s.name: s for s in build_sources(config, self.http)}
        self.ingestor = ingestor or Ingestor(store, config.topics, clock=clock)
        self.on_poll = on_poll
        self.scheduler: BackgroundScheduler | None = None
        self._rng = random.Random()
        self._stopped = threading.Event()
        self.ingestor.stopping = self._stopped.is_set
        self._streams: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._streams_lock = threading.Lock()
        # The real clock means the database's (one clock for every collector); a test's is its own.
        self.leases = Leases(store, collector_id(), None if clock is utcnow else clock)
        # A store fault (disk full, database gone) is said once in words, not as a traceback per job.
        self.faults = FaultLog(log)
        store.sync_sources(config.sources)
        self.alerts = AlertMonitor(config, store, clock=clock) if config.alerts.enabled else None

    # --- on demand ----------------------------------------------------------------------
    def poll(self, name: str) -> PollOutcome:
        source = self.sources[name]
        mark = self.alerts.mark() if self.alerts is not None else None
        if source.streaming:
            outcome = cast(StreamingSource, source).catch_up(self.ingestor)
        else:
            outcome = self.ingestor.poll(source)
        self._check_alerts(outcome, mark)
        if self.on_poll:
            self.on_poll(outcome)
        return outcome

    def poll_all(self) -> list[PollOutcome]:
        return [self.poll(name) for name in self.sources]

    # --- scheduled ----------------------------------------------------------------------
    def start(self) -> None:
        self.ingestor.scoring.warm_up()
        self.store.start_checkpointer()  # SQLite: WAL checkpoints off the polling threads
        workers = max(1, min(len(self.sources), 8))  # polls mostly wait on the network
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = self.clock()
        for name, source in self.sources.items():
            if source.streaming:
                continue  # started by _keep_leases once this collector holds its lease
            interval = source.settings.interval
            jitter = max(0.0, min(interval.total_seconds() * 0.1, 30.0))
            state = self.store.source_state(name) or {}
            first = state.get("next_poll_at")
            # Respect a backoff that was running when the process stopped; otherwise start soon.
            if first is None or first < now:
                first = now + timedelta(seconds=self._rng.uniform(0, min(jitter, 2.0)))
            self.scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=interval.total_seconds(), jitter=jitter),
                id=name,
                name=name,
                args=[name],
                next_run_time=first,
            )
        self.scheduler.add_job(
            self._keep_leases,
            IntervalTrigger(seconds=self.leases.ttl.total_seconds() / 3),
            id="_leases",
            name="leases",
            next_run_time=now,
        )
        schedule_digests(
            self.scheduler, self.config, self.store, clock=self.clock, stop=self._stopped
        )
        self.scheduler.start()
        log.info("collecting from %d source(s): %s", len(self.sources), ", ".join(self.sources))

    def _run(self, name: str) -> None:
        if self._stopped.is_set():
            return
        try:
            if not self.leases.acquire(name):
                log.debug("%s: polled by another collector; skipped", name)
                return
        except Exception as exc:
            # the store is failing: the poll would fail the same way; try next run
            self._store_fault(name, self.faults.failed(exc, f"taking the lease on {name}"))
            return
        try:
            outcome = self.poll(name)
        except Exception as exc:
            # the store itself failed (disk full, database down): keep the job alive
            fault = self.faults.failed(exc, f"storing the poll of {name}")
            self._store_fault(name, fault)
            outcome = PollOutcome(source=name, outcome="error", error=fault.message)
        else:
            self.faults.ok()
        try:
            self._schedule_next(name, outcome)
        except Exception as exc:  # noqa: BLE001 - said by the fault log; the job stays scheduled
            self.faults.failed(exc, f"scheduling the next poll of {name}")

    def _store_fault(self, name: str, fault: Fault) -> None:
        """Put a store fault where `monitor status` and feed health read it: the source's state.

        Best effort: on a full disk an UPDATE that needs no new page usually still commits (SQLite
        reuses its WAL, PostgreSQL its free space); if it does not, the log has said it.
        """
        now = self.clock()
        try:
            with self.store.write() as conn:
                conn.execute(
                    update(SourceState)
                    .where(col(SourceState.source) == name)
                    .values(
                        last_poll_at=now,
                        last_outcome="error",
                        last_error=fault.message,
                        consecutive_failures=SourceState.consecutive_failures + 1,
                        failing_since=func.coalesce(SourceState.failing_since, now),
                    )
                )
        except Exception:  # noqa: BLE001 - the store is what is failing
            log.debug("could not record the fault on %s", name, exc_info=True)

    def _schedule_next(self, name: str, outcome: PollOutcome) -> None:
        source = self.sources[name]
        try:
            state = self.store.source_state(name) or {}
        except Exception:  # noqa: BLE001 - a failing store: back off as from one failure
            state = {}
        failures = int(state.get("consecutive_failures") or 0)
        if outcome.outcome == "error" or outcome.outcome == "partial":
            delay = backoff_delay(
                source.settings.interval, max(failures, 1), outcome.retry_after, self._rng
            )
            if not self.faults.active or outcome.error not in {
                f.message for f in self.faults.active
            }:
                log.warning("%s: %s; next try in %s", name, outcome.error, _words(delay))
        else:
            delay = source.settings.interval
            if outcome.new_posts:
                log.info("%s: %d new post(s)", name, outcome.new_posts)
        next_at = self.clock() + delay
        if (
            self.scheduler is not None
            and outcome.outcome in ("error", "partial")
            and not self._stopped.is_set()
        ):
            try:
                self.scheduler.modify_job(name, next_run_time=next_at)
            except Exception:  # the job was removed while shutting down
                pass
        with self.store.write() as conn:
            conn.execute(
                update(SourceState)
                .where(col(SourceState.source) == name)
                .values(next_poll_at=next_at)
            )

    def stop(self, wait: bool = True) -> None:
        """Stop within seconds: retry waits end, requests under way are cut short (their polls
        store nothing and keep their cursor), digest deliveries not made are recorded as failed
        and made at the next start."""
        self._stopped.set()
        abort_requests(self.http)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self._stop_streams(wait)
        self.http.close()
        self.store.stop_checkpointer()
        if self.scheduler is not None:
            try:
                self.leases.release()
            except Exception:  # the leases then expire by themselves
                log.warning(
                    "could not hand the sources back; another collector takes them in %s",
                    _words(self.leases.ttl),
                )

    # --- leases -------------------------------------------------------------------------
    def _keep_leases(self) -> None:
        """Renew what this collector holds; start a stream once its lease is ours, stop one
        whose lease another collector has taken (after this one stalled past the TTL)."""
        if self._stopped.is_set():
            return
        try:
            held = self.leases.renew()
            for name, source in self.sources.items():
                if source.streaming and name not in self._streams and self.leases.acquire(name):
                    held.add(name)
                    self._start_stream(cast(StreamingSource, source))
        except Exception as exc:
            self.faults.failed(exc, "renewing the source leases")
            return
        with self._streams_lock:
            lost = [name for name in self._streams if name not in held]
        for name in lost:
            log.warning("%s: another collector took over this stream", name)
            self._stop_stream(name, wait=False)

    # --- alerts -------------------------------------------------------------------------
    def _check_alerts(self, outcome: PollOutcome, mark: int | None) -> None:
        """Spike alerts for what this poll stored (monitor/outputs/alerts.py); never fails the poll."""
        # stopping: pending alerts go out at the next start
        if self.alerts is None or self._stopped.is_set():
            return
        try:
            self.alerts.after_poll(
                mark, source=outcome.source, failed=outcome.outcome in ("error", "partial")
            )
        except Exception:
            log.exception("checking the posts %s stored for spikes failed", outcome.source)

    # --- streaming sources --------------------------------------------------------------
    # A streaming source (Jetstream) is not polled: it gets a thread of its own that reads,
    # stores in batches and reconnects by itself until the collector stops.

    def _start_stream(self, source: StreamingSource) -> None:
        def on_flush(outcome: PollOutcome) -> None:
            self._check_alerts(outcome, None)
            if self.on_poll:
                self.on_poll(outcome)

        stop = threading.Event()
        thread = threading.Thread(
            target=source.run,
            args=(self.ingestor, stop, on_flush),
            name=f"stream:{source.name}",
            daemon=True,
        )
        with self._streams_lock:
            self._streams[source.name] = (thread, stop)
        thread.start()

    def _stop_stream(self, name: str, wait: bool) -> None:
        with self._streams_lock:
            thread, stop = self._streams.pop(name, (None, None))
        if stop is not None:
            stop.set()
        if wait and thread is not None:
            thread.join(timeout=10)

    def _stop_streams(self, wait: bool) -> None:
        """A stream notices its stop event within a fraction of a second and flushes."""
        for name in list(self._streams):
            self._stop_stream(name, wait)


class StreamingSource(Protocol):
    """What the collector needs from a source with `streaming = True`."""

    name: str
    streaming: bool

    def run(
        self,
        ingestor: Ingestor,
        stop: threading.Event,
        on_flush: Callable[[PollOutcome], None] | None = None,
    ) -> None:
        """Read until `stop` is set; store through `ingestor.store_batch`; never raise."""

    def catch_up(self, ingestor: Ingestor) -> PollOutcome:
        """Read until caught up, store, and return one outcome for the whole pass."""


def _words(delay: timedelta) -> str:
    s = delay.total_seconds()
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
