"""bucket change marker: `bucket.changed_ms`, the database clock at the bucket's last upsert

The dashboard caches old buckets; with this marker it re-reads every bucket changed since its last
read (late posts, backfills, imports), however old, instead of only the last two hours.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bucket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("changed_ms", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index("ix_bucket_changed_ms", ["changed_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bucket", schema=None) as batch_op:
        batch_op.drop_index("ix_bucket_changed_ms")
        batch_op.drop_column("changed_ms")
