"""Bulk writes must store what an ordinary SQLAlchemy insert stores: the dashboard, exports and
dedupe compare stored values (SQLite keeps times as text), so a byte of difference would split
one post's history in two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text

from monitor.store.bulk import BulkInsert
from monitor.store.db import Store
from monitor.store.models import Post

COLUMNS = (
    "source",
    "native_id",
    "canonical_url",
    "canonical_id",
    "url",
    "author",
    "text",
    "lang",
    "tags",
    "created_at",
    "fetched_at",
    "engagement",
    "reposts",
    "compound",
    "pos",
    "neu",
    "neg",
    "scorer",
    "scorer_version",
)


def test_bulk_rows_equal_orm_rows(store: Store) -> None:
    """The same post written both ways reads back identically, down to the stored text of its times."""
    created = datetime(2026, 3, 16, 9, 5, 7, tzinfo=UTC)
    fetched = datetime(2026, 3, 16, 9, 6, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    values = [
        "s",
        "",
        "https://a.test/x",
        None,
        "https://a.test/x?utm_source=y",
        "ann",
        "Путин 😂 'quoted'",
        "en",
        ["trumpputin", "путин"],
        created,
        fetched,
        3,
        0,
        -0.25,
        0.1,
        0.6,
        0.3,
        "vader",
        "3.3.2",
    ]
    with store.write() as conn:
        BulkInsert(Post.__table__, COLUMNS)(
            conn,
            [
                tuple(
                    [
                        "bulk" if c == "native_id" else v
                        for c, v in zip(COLUMNS, values, strict=False)
                    ]
                )
            ],
        )
        # canonical_url is unique: the ORM copy gets its own (and the comparison leaves it out)
        conn.execute(
            insert(Post),
            [
                {
                    **dict(zip(COLUMNS, values, strict=False)),
                    "native_id": "orm",
                    "canonical_url": "https://a.test/orm",
                }
            ],
        )
    with store.read() as conn:
        rows = {r.native_id: r for r in conn.execute(select(Post.__table__)).all()}
        as_text = ", ".join(f"CAST({c} AS TEXT)" for c in ("created_at", "fetched_at", "tags"))
        raw = {
            r[0]: tuple(r[1:]) for r in conn.execute(text(f"SELECT native_id, {as_text} FROM post"))
        }
    bulk, orm = rows["bulk"]._asdict(), rows["orm"]._asdict()
    for key in ("id", "native_id", "canonical_url"):
        bulk.pop(key), orm.pop(key)
    assert bulk == orm
    assert raw["bulk"] == raw["orm"]
    assert bulk["created_at"] == created and bulk["fetched_at"] == fetched


@pytest.mark.postgres
def test_postgresql_plans_each_id_look_up_for_its_own_ids(pg_url: str) -> None:
    """psycopg prepares a statement after five runs and PostgreSQL may then keep one generic plan;
    for a look-up of hundreds of ids on a table whose statistics are stale (a new store filling
    fast) that plan compared every post with every id. Every look-up must be planned for its ids."""
    from monitor.ingest.poll import _NATIVE_IDS
    from monitor.store.bulk import select_in

    store = Store(pg_url)
    when = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    rows = [
        tuple(
            [
                "s",
                f"id-{i}",
                f"https://a.test/{i}",
                None,
                None,
                None,
                "text",
                "en",
                [],
                when,
                when,
                0,
                0,
                None,
                None,
                None,
                None,
                None,
                None,
            ]
        )
        for i in range(3000)
    ]
    with store.write() as conn:
        BulkInsert(Post.__table__, COLUMNS)(conn, rows)
    with store.write() as conn:
        # psycopg prepares after 5 runs, PostgreSQL weighs a generic plan after 5 more
        for k in range(20):
            found = select_in(
                conn, _NATIVE_IDS, [f"id-{i}" for i in range(k, 3000, 6)], before=("s",)
            )
            assert len(found) == len(range(k, 3000, 6))
        plans = conn.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT native_id, id FROM post%%'"
        ).all()
    store.close()
    assert plans and all(generic == 0 and custom > 0 for generic, custom in plans), plans
