"""quarantine for items that cannot be stored; unique dedupe keys; poll_log.quarantined

Cross-source dedupe was read-then-insert, so two transactions a few ms apart could both store
the same post. The canonical URL and id become unique. Duplicates an earlier version stored keep
their rows (their sums are in the buckets already) but give up the key, so the oldest copy keeps
it and the index can be built.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("canonical_url", "canonical_id"):
        op.execute(
            f"UPDATE post SET {column} = NULL WHERE {column} IS NOT NULL AND id > "
            f"(SELECT min(p2.id) FROM post p2 WHERE p2.{column} = post.{column})"
        )
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index("ix_post_canonical_url")
        batch_op.drop_index("ix_post_canonical_id")
        batch_op.create_index("ux_post_canonical_url", ["canonical_url"], unique=True)
        batch_op.create_index("ux_post_canonical_id", ["canonical_id"], unique=True)
    with op.batch_alter_table("poll_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("quarantined", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("item_key", sa.String(length=600), nullable=False),
        sa.Column("native_id", sa.String(length=512), nullable=True),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("first_seen_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", monitor.store.models.UTCDateTime(), nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "item_key", name="uq_quarantine_source_item"),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    with op.batch_alter_table("poll_log", schema=None) as batch_op:
        batch_op.drop_column("quarantined")
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_index("ux_post_canonical_id")
        batch_op.drop_index("ux_post_canonical_url")
        batch_op.create_index("ix_post_canonical_id", ["canonical_id"], unique=False)
        batch_op.create_index("ix_post_canonical_url", ["canonical_url"], unique=False)
