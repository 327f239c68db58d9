"""post_topic carries copies of compound, engagement and a language+hashtags key (`facet`);
posts per topic, hour and key (`topic_facet_hour`) and what each key stands for (`facet`)

The topic screen's newest-posts scan joined every link to its post row for four values; with the
copies and `ix_post_topic_recent` holding them, the scan reads the index alone (issue 13); the
language and hashtag counts add up hours instead of reading 20,000 links. Filled here from the
posts of an existing store (the copies then made NOT NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import json

import sqlalchemy as sa
from alembic import op

import monitor.store.models
from monitor.store.facets import meaning
from monitor.store.models import facet_key

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_RECENT: list[str | sa.TextClause] = [
    "topic",
    sa.text("created_at DESC"),
    "facet",
    "compound",
    "engagement",
    "post_id",
]


def _facet_sql(tags_json: str | None, lang: str | None) -> int:
    return facet_key(lang, json.loads(tags_json) if tags_json else None)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # One pass that writes the table anew: ADD COLUMN, UPDATE and the table copy SQLite needs
        # to make a column NOT NULL would write every link three times.
        raw = bind.connection.dbapi_connection
        if raw is None:  # a connection alembic hands a migration is always open
            raise RuntimeError("migration 0007 needs an open SQLite connection")
        raw.create_function("rm_facet", 2, _facet_sql, deterministic=True)
        op.create_table(
            "post_topic_new",
            sa.Column("post_id", sa.BigInteger(), nullable=False),
            sa.Column("topic", sa.String(length=100), nullable=False),
            sa.Column("created_at", monitor.store.models.UTCDateTime(), nullable=False),
            sa.Column("compound", sa.Float(), nullable=True),
            sa.Column("engagement", sa.BigInteger(), nullable=False),
            sa.Column("facet", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("post_id", "topic"),
        )
        op.execute(
            "INSERT INTO post_topic_new (post_id, topic, created_at, compound, engagement, facet) "
            "SELECT t.post_id, t.topic, t.created_at, p.compound, p.engagement, "
            "rm_facet(p.tags, p.lang) FROM post_topic t JOIN post p ON p.id = t.post_id "
            "ORDER BY t.post_id, t.topic"
        )
        op.drop_table("post_topic")
        op.rename_table("post_topic_new", "post_topic")
    else:
        op.add_column("post_topic", sa.Column("compound", sa.Float(), nullable=True))
        op.add_column("post_topic", sa.Column("engagement", sa.BigInteger(), nullable=True))
        op.add_column("post_topic", sa.Column("facet", sa.BigInteger(), nullable=True))
        # Posts share few (language, tag list) pairs: each is hashed once, here, and joined.
        key = "coalesce('+' || p.lang, '-') || chr(30) || coalesce(p.tags::text, '')"
        pairs = bind.execute(sa.text(f"SELECT DISTINCT {key}, p.lang, p.tags::text FROM post p"))
        op.execute("CREATE TEMP TABLE facet_map (k text PRIMARY KEY, facet bigint) ON COMMIT DROP")
        rows = [{"k": k, "f": _facet_sql(tags, lang)} for k, lang, tags in pairs]
        if rows:
            bind.execute(sa.text("INSERT INTO facet_map (k, facet) VALUES (:k, :f)"), rows)
        op.execute(
            "UPDATE post_topic t SET compound = p.compound, engagement = p.engagement, "
            f"facet = m.facet FROM post p JOIN facet_map m ON m.k = {key} WHERE p.id = t.post_id"
        )
        op.alter_column("post_topic", "engagement", nullable=False)
        op.alter_column("post_topic", "facet", nullable=False)
        op.drop_index("ix_post_topic_topic_created", table_name="post_topic")
    op.create_index("ix_post_topic_recent", "post_topic", _RECENT, unique=False)
    op.create_table(
        "facet",
        sa.Column("facet", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("facet"),
    )
    op.create_table(
        "topic_facet_hour",
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("facet", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_unscored", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "start_ts", "facet"),
    )
    tags = "p.tags::text" if bind.dialect.name == "postgresql" else "p.tags"
    meanings = {}
    for lang, tag_json in bind.execute(sa.text(f"SELECT DISTINCT p.lang, {tags} FROM post p")):
        facet_id, lang, tag_list = meaning(lang, json.loads(tag_json) if tag_json else None)
        meanings[facet_id] = {"f": facet_id, "l": lang, "t": json.dumps(list(tag_list))}
    if meanings:
        bind.execute(
            sa.text("INSERT INTO facet (facet, lang, tags) VALUES (:f, :l, :t)"),
            list(meanings.values()),
        )
    hour = (
        "CAST(floor(extract(epoch FROM created_at) / 3600) * 3600 AS BIGINT)"
        if bind.dialect.name == "postgresql"
        else "CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) / 3600 * 3600"
    )
    op.execute(
        f"INSERT INTO topic_facet_hour (topic, start_ts, facet, n, n_unscored) "
        f"SELECT topic, {hour}, facet, count(*), count(*) - count(compound) FROM post_topic "
        f"GROUP BY topic, {hour}, facet"
    )


def downgrade() -> None:
    op.drop_table("topic_facet_hour")
    op.drop_table("facet")
    op.drop_index("ix_post_topic_recent", table_name="post_topic")
    with op.batch_alter_table("post_topic", schema=None) as batch_op:
        batch_op.drop_column("facet")
        batch_op.drop_column("engagement")
        batch_op.drop_column("compound")
        batch_op.create_index("ix_post_topic_topic_created", ["topic", "created_at"], unique=False)
