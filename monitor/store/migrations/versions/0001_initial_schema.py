"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bucket",
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("width_s", sa.Integer(), nullable=False),
        sa.Column("n_neg", sa.Integer(), nullable=False),
        sa.Column("n_neu", sa.Integer(), nullable=False),
        sa.Column("n_pos", sa.Integer(), nullable=False),
        sa.Column("sum_neg", sa.Float(), nullable=False),
        sa.Column("sum_neu", sa.Float(), nullable=False),
        sa.Column("sum_pos", sa.Float(), nullable=False),
        sa.Column("sum_sq", sa.Float(), nullable=False),
        sa.Column("n_unscored", sa.Integer(), nullable=False),
        sa.Column("engagement", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("incomplete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "source", "start_ts", "width_s"),
    )
    op.create_table(
        "poll_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("started_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("new_posts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("poll_log", schema=None) as batch_op:
        batch_op.create_index("ix_poll_log_source_started", ["source", "started_at"], unique=False)

    op.create_table(
        "post",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("native_id", sa.String(length=512), nullable=False),
        sa.Column("canonical_url", sa.String(length=2048), nullable=True),
        sa.Column("canonical_id", sa.String(length=512), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=512), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.Column("fetched_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.Column("engagement", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.Column("compound", sa.Float(), nullable=True),
        sa.Column("pos", sa.Float(), nullable=True),
        sa.Column("neu", sa.Float(), nullable=True),
        sa.Column("neg", sa.Float(), nullable=True),
        sa.Column("scorer", sa.String(length=40), nullable=True),
        sa.Column("scorer_version", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "native_id", name="uq_post_source_native"),
    )
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.create_index("ix_post_canonical_id", ["canonical_id"], unique=False)
        batch_op.create_index("ix_post_canonical_url", ["canonical_url"], unique=False)
        batch_op.create_index(batch_op.f("ix_post_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_post_source"), ["source"], unique=False)

    op.create_table(
        "post_topic",
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("created_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "topic"),
    )
    with op.batch_alter_table("post_topic", schema=None) as batch_op:
        batch_op.create_index("ix_post_topic_topic_created", ["topic", "created_at"], unique=False)

    op.create_table(
        "repost",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("native_id", sa.String(length=512), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=True),
        sa.Column("seen_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    op.create_table(
        "source",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "source_state",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("last_poll_at", monitor.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_ok_at", monitor.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", monitor.store.models.UTCDateTime(), nullable=True),
        sa.Column("next_poll_at", monitor.store.models.UTCDateTime(), nullable=True),
        sa.Column("posts_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["source"],
            ["source.name"],
        ),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("source_state")
    op.drop_table("source")
    op.drop_table("repost")
    with op.batch_alter_table("post_topic", schema=None) as batch_op:
        batch_op.drop_index("ix_post_topic_topic_created")

    op.drop_table("post_topic")
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_source"))
        batch_op.drop_index(batch_op.f("ix_post_created_at"))
        batch_op.drop_index("ix_post_canonical_url")
        batch_op.drop_index("ix_post_canonical_id")

    op.drop_table("post")
    with op.batch_alter_table("poll_log", schema=None) as batch_op:
        batch_op.drop_index("ix_poll_log_source_started")

    op.drop_table("poll_log")
    op.drop_table("bucket")
