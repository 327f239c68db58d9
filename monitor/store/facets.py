"""The topic screen's breakdowns of a topic's newest posts, at a cost that does not grow with the store.

The screen shows, over the newest `limit` (20,000) posts of a window: posts and unscored posts per
language, posts per hashtag, and the three most positive, most negative and most engaged posts.
Counting languages and hashtags by reading those posts cost ~1 µs a post, most of it a GROUP BY
sort; at 1M posts the newest 20,000 are a day and a half, at 10k the whole window's ~4,100. Here
they come from `topic_facet_hour` (posts per topic, hour and language+hashtags key), written
with the links, and only the partial hours at either end of the cut are read from `post_topic`.
The cut itself (the time of the `limit`-th newest post) is found by stepping along
`ix_post_topic_recent` without reading its entries, and the top posts by three ORDER BY … LIMIT
scans above it that read the index alone.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from monitor.store.bulk import BulkInsert
from monitor.store.models import (
    Facet,
    PostTopic,
    TopicFacetHour,
    canonical_tags,
    key_of,
    link_row,
    table_of,
)

HOUR = 3600

_HOURS = BulkInsert(
    table_of(TopicFacetHour),
    ("topic", "start_ts", "facet", "n", "n_unscored"),
    on_conflict=(
        " ON CONFLICT (topic, start_ts, facet) DO UPDATE SET n = topic_facet_hour.n + excluded.n, "
        "n_unscored = topic_facet_hour.n_unscored + excluded.n_unscored"
    ),
)
_MEANINGS = BulkInsert(
    table_of(Facet), ("facet", "lang", "tags"), on_conflict=" ON CONFLICT DO NOTHING"
)

# (topic, created_at, facet, compound) of one link
Link = tuple[str, datetime, int, float | None]


def meaning(lang: str | None, tags: Any) -> tuple[int, str | None, tuple[str, ...]]:
    """(key, language, casefolded sorted tags): a `facet` row."""
    canon = canonical_tags(tags)
    return key_of(lang, canon), lang, canon


def add(
    conn: Connection,
    links: Iterable[Link],
    meanings: Iterable[tuple[int, str | None, tuple[str, ...]]] = (),
    *,
    sign: int = 1,
) -> None:
    """Count `links` into their hours (`sign=-1`: take them out, for deleted posts), and store what
    new keys stand for. One row per key in one statement: an upsert may not touch a row twice."""
    acc: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0])
    for topic, created, facet, compound in links:
        a = acc[(topic, int(created.timestamp()) // HOUR * HOUR, int(facet))]
        a[0] += sign
        a[1] += sign * (compound is None)
    _HOURS(conn, [(t, h, f, n, u) for (t, h, f), (n, u) in acc.items()])
    unique = {m[0]: m for m in meanings}
    _MEANINGS(conn, list(unique.values()))


def insert_links(conn: Connection, pairs: Sequence[tuple[dict[str, Any], str]]) -> None:
    """Links of posts written without the collector (generators, tests): (post as a dict of its
    columns with `id`, topic) each, with their hours and keys, as ingest writes them."""
    rows = [link_row(post, topic) for post, topic in pairs]
    if not rows:
        return
    conn.execute(insert(table_of(PostTopic)), rows)
    add(
        conn,
        ((r["topic"], r["created_at"], r["facet"], r["compound"]) for r in rows),
        (meaning(post.get("lang"), post.get("tags")) for post, _ in pairs),
    )


def summarize(
    cur: Any,
    *,
    pg: bool,
    topic: str,
    since: datetime,
    until: datetime,
    limit: int,
    top: int,
    driver_time: Callable[[datetime], Any],
) -> dict[str, Any]:
    """The newest `limit` links of `topic` in [since, until), summed: {"groups": {facet: [posts,
    unscored]}, "meanings": {facet: (lang, tag set)}, "pos"/"neg"/"eng": candidate rows
    (post_id, facet, compound, engagement)}. `cur` is a driver cursor inside a read transaction.

    Posts at exactly the cut's time count in the index's order, as the LIMIT of one scan would."""
    if limit <= 0:
        return {"groups": {}, "meanings": {}, "pos": [], "neg": [], "eng": []}
    mark = "%s" if pg else "?"
    order = "created_at DESC, facet, compound, engagement, post_id"
    cols = "post_id, facet, compound, engagement"
    links = f"FROM post_topic WHERE topic = {mark}"
    cur.execute(
        f"SELECT created_at {links} AND created_at >= {mark} AND created_at < {mark} "
        f"ORDER BY {order} LIMIT 1 OFFSET {mark}",
        (topic, driver_time(since), driver_time(until), int(limit) - 1),
    )
    cut_row = cur.fetchone()
    edge: list[tuple[Any, ...]] = []
    if cut_row is None:  # fewer posts than the cap: the whole window, its start included
        lo, lo_op, first_hour = since, ">=", -(-int(since.timestamp()) // HOUR) * HOUR
    else:
        lo = _aware(cut_row[0])
        lo_op, first_hour = ">", int(lo.timestamp()) // HOUR * HOUR + HOUR
        cur.execute(
            f"SELECT count(*) {links} AND created_at > {mark} AND created_at < {mark}",
            (topic, cut_row[0], driver_time(until)),
        )
        above = int(cur.fetchone()[0])
        cur.execute(
            f"SELECT {cols} {links} AND created_at = {mark} ORDER BY {order} LIMIT {mark}",
            (topic, cut_row[0], int(limit) - above),
        )
        edge = cur.fetchall()
    lo_value = cut_row[0] if cut_row is not None else driver_time(since)
    last_hour = int(until.timestamp()) // HOUR * HOUR
    groups: dict[int, list[int]] = defaultdict(lambda: [0, 0])

    def fold(rows: Any) -> None:
        for facet, n, unscored in rows:
            g = groups[int(facet)]
            g[0] += int(n)
            g[1] += int(unscored)

    def scan(op: str, a: Any, b: Any) -> None:
        cur.execute(
            f"SELECT facet, count(*), count(*) - count(compound) {links} "
            f"AND created_at {op} {mark} AND created_at < {mark} GROUP BY facet",
            (topic, a, b),
        )
        fold(cur.fetchall())

    if first_hour >= last_hour:  # within two partial hours: read the links themselves
        scan(lo_op, lo_value, driver_time(until))
    else:
        scan(lo_op, lo_value, driver_time(datetime.fromtimestamp(first_hour, UTC)))
        cur.execute(
            f"SELECT facet, sum(n), sum(n_unscored) FROM topic_facet_hour WHERE topic = {mark} "
            f"AND start_ts >= {mark} AND start_ts < {mark} GROUP BY facet",
            (topic, first_hour, last_hour),
        )
        fold(cur.fetchall())
        if last_hour < int(until.timestamp()) or until.microsecond:
            scan(">=", driver_time(datetime.fromtimestamp(last_hour, UTC)), driver_time(until))
    for _, facet, compound, _ in edge:
        g = groups[int(facet)]
        g[0] += 1
        g[1] += compound is None
    out: dict[str, Any] = {"groups": {f: g for f, g in groups.items() if g[0] > 0}}
    above_sql = f"{links} AND created_at {lo_op} {mark} AND created_at < {mark}"
    for kind, where, by in (
        ("pos", "compound > 0", "compound DESC"),
        ("neg", "compound < 0", "compound ASC"),
        ("eng", "engagement > 0", "engagement DESC"),
    ):
        cur.execute(
            f"SELECT {cols} {above_sql} AND {where} ORDER BY {by}, post_id DESC LIMIT {int(top)}",
            (topic, lo_value, driver_time(until)),
        )
        out[kind] = cur.fetchall() + [r for r in edge if _qualifies(kind, r)]
    out["meanings"] = _meanings(cur, list(out["groups"]), pg)
    return out


def _qualifies(kind: str, row: tuple[Any, ...]) -> bool:
    compound, engagement = row[2], row[3]
    if kind == "eng":
        return bool(engagement and engagement > 0)
    return compound is not None and (compound > 0 if kind == "pos" else compound < 0)


def _aware(value: Any) -> datetime:
    """A `created_at` as the driver returned it (text on SQLite) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _meanings(cur: Any, keys: list[int], pg: bool) -> dict[int, tuple[str | None, set[str]]]:
    out: dict[int, tuple[str | None, set[str]]] = {}
    mark = "%s" if pg else "?"
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        cur.execute(
            f"SELECT facet, lang, {'tags::text' if pg else 'tags'} FROM facet "
            f"WHERE facet IN ({', '.join([mark] * len(chunk))})",
            chunk,
        )
        found = cur.fetchall()
        decoded = json.loads("[" + ",".join(r[2] or "[]" for r in found) + "]")
        for (key, lang, _), tags in zip(found, decoded, strict=True):
            out[int(key)] = (lang, set(tags or ()))
    return out


__all__ = ["HOUR", "add", "insert_links", "meaning", "summarize"]
