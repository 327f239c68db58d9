"""One paging model for every cursor-paginated source: the newest position and a ledger of ranges.

Every paginated platform API reads newest first and pages backwards with a continuation (a
Mastodon `max_id`, a Bluesky `until`/`cursor`, a Reddit `after`, an X `until_id`, an Algolia time
bound). What differed between our sources was what happened when a poll could not read all of a
window (a page budget, a rate-limit pause, an error, a killed process): some moved their cursor to
the newest post anyway and skipped the rest for good. Here that cannot happen by construction:

- Per stream (a tag on an instance, a search, a listing) the state keeps the **newest position**
  reached. It moves as soon as a poll has read the first page above it, because from then on
  the span between the old and the new newest position is owned by a **pending range**.
- A range is `[edge, top]`: the window edge it must reach (the previous newest position, or the
  start of the backfill window) and its continuation (where the next page starts). A poll opens
  one new range per stream (new posts first), then works on the older pending ranges, newest
  first, within its page budget. A budget, a rate-limit pause, an error or a killed process
  leaves the range pending with its continuation; the next poll, in this process or another,
  continues exactly there. Only a range whose edge was reached closes.
- A platform that cannot serve the rest of a range (Reddit's 1,000-item listings, X's seven days)
  closes it as a **collection gap**: the minutes are marked incomplete in the buckets and the
  reason is kept in words for feed health and `monitor status`.

The ledger is part of the source's state, so it commits in the same transaction as the posts it
describes (docs/decisions.md, "One transaction per poll"). A source supplies only a `Reader`: how
to ask its platform for one page of a range and how to read the answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from monitor.sources.base import RawPost, SourceError

__all__ = [
    "Gap",
    "Ledger",
    "Page",
    "Pause",
    "Range",
    "Reader",
    "Stream",
    "collection_lines",
    "describe",
    "run",
]

MAX_GAPS = (
    50  # gaps remembered in the state for feed health (their minutes stay marked in the buckets)
)
STOP_STATUSES = (None, 401, 403, 429)  # failures every further request of this poll would repeat


@dataclass(slots=True)
class Range:
    """A span of one stream still to read: from its continuation back to `edge_at`."""

    key: str
    label: str
    edge_at: float  # UNIX seconds: the oldest time the range must reach
    edge: dict[str, Any] | None = None  # the platform position at the edge (None: a time only)
    cont: dict[str, Any] | None = (
        None  # where the next page starts; None: not started (read from the top)
    )
    top_at: float | None = None  # newest post time read in the range
    oldest_at: float | None = None  # oldest post time read so far
    read: int = 0  # posts read so far (all polls)
    above: int = (
        0  # posts read above it since it opened (how deep its continuation sits in a listing)
    )
    backfill: bool = False  # the stream's first read, back to the backfill window
    opened_at: float = 0.0

    @property
    def started(self) -> bool:
        return self.cont is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Range | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                key=str(data["key"]),
                label=str(data.get("label") or data["key"]),
                edge_at=float(data["edge_at"]),
                edge=_dict_or_none(data.get("edge")),
                cont=_dict_or_none(data.get("cont")),
                top_at=_float(data.get("top_at")),
                oldest_at=_float(data.get("oldest_at")),
                read=int(data.get("read") or 0),
                above=int(data.get("above") or 0),
                backfill=bool(data.get("backfill")),
                opened_at=float(data.get("opened_at") or 0.0),
            )
        except (KeyError, TypeError, ValueError):
            return None  # a hand-edited or damaged entry: dropped rather than failing every poll


@dataclass(frozen=True, slots=True)
class Gap:
    """A span the platform could not serve, in words."""

    key: str
    start: float
    end: float
    reason: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Stream:
    """One thing paged on its own: its key in the state and its name in messages."""

    key: str
    label: str


@dataclass(slots=True)
class Page:
    """One answer, read by a source's Reader.

    `posts` are the range's posts on the page (those past the edge left out). `newest` is the
    platform position of the newest item (it becomes the stream's newest position on a range's
    first page). `cont` is where the next page starts; None closes the range (its edge was
    reached, or the platform has nothing older). `lost` records a span the platform cannot
    serve, as (start, end, reason); with `cont` None it closes the range as a gap.
    """

    posts: list[RawPost]
    newest: dict[str, Any] | None = None
    newest_at: datetime | None = None
    oldest_at: datetime | None = None
    cont: dict[str, Any] | None = None
    lost: tuple[datetime, datetime, str] | None = None


class Pause(Exception):
    """The platform's rate window is nearly used up: stop this poll, leave every range pending."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


class Reader(Protocol):
    def page(self, rng: Range) -> Page:
        """Ask for the next page of `rng`; raise SourceError or Pause."""
        ...


class Ledger:
    """The paging part of a source's state: newest positions, pending ranges, recorded gaps."""

    def __init__(self, state: dict[str, Any] | None):
        raw = state.get("paging") if isinstance(state, dict) else None
        raw = raw if isinstance(raw, dict) else {}
        newest = raw.get("newest")
        self.newest: dict[str, dict[str, Any]] = {
            k: dict(v)
            for k, v in (newest.items() if isinstance(newest, dict) else ())
            if isinstance(v, dict)
        }
        self.pending: list[Range] = [
            r for r in map(Range.from_json, raw.get("pending") or []) if r is not None
        ]
        self.gaps: list[dict[str, Any]] = [g for g in raw.get("gaps") or [] if isinstance(g, dict)]
        self.new_gaps: list[Gap] = []

    def ranges(self, key: str) -> list[Range]:
        """A stream's ranges in the order a poll works on them: not started first, then newest first."""
        mine = [r for r in self.pending if r.key == key]
        return sorted(
            mine, key=lambda r: (r.started, -(r.top_at if r.top_at is not None else math.inf))
        )

    def open(
        self, stream: Stream, edge_at: float, now: float, *, backfill_at: float | None = None
    ) -> Range:
        """The new-posts range of a stream (reused while one is waiting to start)."""
        for r in self.pending:
            if r.key == stream.key and not r.started:
                return r
        known = self.newest.get(stream.key)
        if known is None and not any(r.key == stream.key for r in self.pending):
            rng = Range(
                stream.key,
                stream.label,
                edge_at=backfill_at if backfill_at is not None else edge_at,
                backfill=True,
                opened_at=now,
            )
        else:
            rng = Range(stream.key, stream.label, edge_at=edge_at, edge=known, opened_at=now)
        self.pending.append(rng)
        return rng

    def close(self, rng: Range) -> None:
        self.pending = [r for r in self.pending if r is not rng]

    def record_gap(
        self, rng: Range, start: datetime, end: datetime, reason: str, now: float
    ) -> None:
        if end <= start:
            return
        gap = Gap(rng.key, start.timestamp(), end.timestamp(), reason, now)
        self.new_gaps.append(gap)
        self.gaps = (self.gaps + [gap.to_json()])[-MAX_GAPS:]

    def dump(self) -> dict[str, Any]:
        # A range not started yet is opened again the same way by the next poll: not kept.
        return {
            "newest": self.newest,
            "pending": [r.to_json() for r in self.pending if r.started],
            "gaps": self.gaps,
        }

    def mark(self) -> None:
        """Remember the ledger as it is now, for `moved`."""
        self._mark = self.dump()

    def moved(self) -> bool:
        """Whether anything changed since `mark` (a poll that read nothing and failed raises instead)."""
        return self.dump() != getattr(self, "_mark", None)

    def into(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "paging": self.dump()}


@dataclass(slots=True)
class Outcome:
    """What one run of the ledger produced: posts, recorded gaps, notes, and the first failure."""

    posts: list[RawPost] = field(default_factory=list)
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: SourceError | None = None
    requests: int = 0
    paused: bool = False


def run(
    ledger: Ledger,
    streams: Sequence[Stream],
    reader: Reader,
    *,
    now: datetime,
    edge_for: Callable[[Stream, dict[str, Any] | None], float],
    backfill_since: datetime,
    pages_per_stream: int | None = None,
    pages_per_poll: int | None = None,
) -> Outcome:
    """One poll over `streams`: each stream's new range first, then its pending ranges.

    `edge_for(stream, newest)` gives the time a new range must reach back to (the newest
    position's time, less any overlap the platform needs). A SourceError stops the stream it
    happened in (every stream for a status every request would meet, see STOP_STATUSES); the
    ranges keep their continuation either way.
    """
    out = Outcome()
    now_s = now.timestamp()
    seen: set[str] = set()

    def budget_left(spent: int) -> bool:
        return not (
            (pages_per_stream is not None and spent >= pages_per_stream)
            or (pages_per_poll is not None and out.requests >= pages_per_poll)
        )

    for stream in streams:
        ledger.open(
            stream,
            edge_for(stream, ledger.newest.get(stream.key)),
            now_s,
            backfill_at=backfill_since.timestamp(),
        )
        spent, failed = 0, False
        for rng in ledger.ranges(stream.key):
            while budget_left(spent):
                try:
                    page = reader.page(rng)
                except Pause as pause:
                    out.notes.append(pause.note)
                    out.paused = True
                    return out
                except SourceError as exc:
                    out.error = out.error or exc
                    if exc.status in STOP_STATUSES:
                        return out
                    failed = True
                    break
                spent += 1
                out.requests += 1
                _apply(ledger, stream, rng, page, seen, out, now_s)
                if page.cont is None:
                    ledger.close(rng)
                    break
                rng.cont = page.cont
            else:
                break  # out of budget: the ranges not reached stay as they are
            if failed:
                break  # this stream failed; the next one may still answer
        if any(r.key == stream.key and r.started for r in ledger.pending) and not budget_left(
            spent
        ):
            out.notes.append(
                f"{stream.label}: more than one poll's pages to read; the rest follows next poll"
            )
    return out


def _apply(
    ledger: Ledger,
    stream: Stream,
    rng: Range,
    page: Page,
    seen: set[str],
    out: Outcome,
    now_s: float,
) -> None:
    first = not rng.started
    fresh = _take(page, rng, seen, out)
    if fresh:  # every range opened before this one sits lower in the listing by as many posts
        for older in ledger.pending:
            if older is rng:
                break
            if older.key == rng.key:
                older.above += fresh
    if first and page.newest is not None:
        ledger.newest[stream.key] = page.newest
    elif first and stream.key not in ledger.newest and page.cont is None:
        # Nothing at all in the stream's window yet: "new" means newer than the edge it reached
        # until a post is seen (never our clock: a platform's may differ from it).
        ledger.newest[stream.key] = {"at": datetime.fromtimestamp(rng.edge_at, UTC).isoformat()}
    if page.lost is not None:
        start, end, reason = page.lost
        ledger.record_gap(rng, start, end, reason, now_s)
        out.gaps.append((start, end))
        out.notes.append(reason)


def _take(page: Page, rng: Range, seen: set[str], out: Outcome) -> int:
    fresh = 0
    for post in page.posts:
        key = post.native_id if post.repost_of is None else "repost:" + post.native_id
        if key in seen:
            continue
        seen.add(key)
        out.posts.append(post)
        if post.repost_of is None:
            fresh += 1
    rng.read += fresh
    if page.newest_at is not None and rng.top_at is None:
        rng.top_at = page.newest_at.timestamp()
    if page.oldest_at is not None:
        at = page.oldest_at.timestamp()
        rng.oldest_at = at if rng.oldest_at is None else min(rng.oldest_at, at)
        if rng.top_at is None:
            rng.top_at = at
    return fresh


# --- in words, for feed health and `monitor status` ---------------------------------------------


def describe(
    state: Any, now: datetime, *, gaps_since: datetime | None = None
) -> tuple[list[str], list[str]]:
    """(progress of pending ranges, recorded gaps) of a source's state, one sentence each."""
    ledger = Ledger(state if isinstance(state, dict) else {})
    progress = []
    for rng in sorted(ledger.pending, key=lambda r: (r.label, -(r.top_at or 0))):
        if not rng.started:
            continue
        verb = "backfilling" if rng.backfill else "catching up on"
        line = f"{verb} {rng.label}: {rng.read:,} posts so far"
        if rng.oldest_at is not None:
            line += f", back to {_clock(rng.oldest_at, now)}"
            togo = _to_go(rng)
            if togo is not None:
                line += f", {togo:,} to go (estimated)"
        if rng.edge_at > 0:
            line += f" (the window starts {_clock(rng.edge_at, now)})"
        progress.append(line)
    since = gaps_since.timestamp() if gaps_since is not None else None
    gaps = [
        str(g.get("reason") or "")
        for g in ledger.gaps
        if g.get("reason") and (since is None or float(g.get("at") or 0) >= since)
    ]
    return progress, gaps


# how long a recorded gap is named in feed health and `monitor status`
GAPS_SHOWN = timedelta(days=7)


def collection_lines(state: Any, now: datetime) -> list[str]:
    """Backfills in progress, then gaps recorded in the last week: what a person reads."""
    progress, gaps = describe(state, now, gaps_since=now - GAPS_SHOWN)
    return progress + gaps


def _to_go(rng: Range) -> int | None:
    """Posts still to read, assuming the rate seen so far in the range holds for the rest."""
    if rng.top_at is None or rng.oldest_at is None or rng.read < 2:
        return None
    span = rng.top_at - rng.oldest_at
    if span <= 0:
        return None
    rest = max(0.0, rng.oldest_at - rng.edge_at)
    return int(round((rng.read - 1) / span * rest))  # n posts span n - 1 intervals


def _clock(ts: float, now: datetime) -> str:
    when = datetime.fromtimestamp(ts, UTC)
    return (
        f"{when:%H:%M} UTC"
        if when.date() == now.astimezone(UTC).date()
        else f"{when:%Y-%m-%d %H:%M} UTC"
    )


def hhmm(when: datetime, now: datetime) -> str:
    """A time in a gap's sentence, with the date when it is not today."""
    return _clock(when.timestamp(), now)


def position_time(newest: dict[str, Any] | None) -> float | None:
    """The time of a stream's newest position (UNIX seconds), however the source wrote it."""
    at = (newest or {}).get("at")
    if isinstance(at, (int, float)):
        return float(at)
    if isinstance(at, str):
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return None


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
