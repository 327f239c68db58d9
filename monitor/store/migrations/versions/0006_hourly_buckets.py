"""hourly bucket rollups beside the minute buckets, filled from the minute buckets already stored

A view of a month at one-hour buckets re-summed ~43,000 minute rows per topic and source on
every read; `bucket_hour` holds those hours summed once, kept in step by every bucket upsert.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SUMS = "n_neg, n_neu, n_pos, sum_neg, sum_neu, sum_pos, sum_sq, n_unscored, engagement"


def upgrade() -> None:
    op.create_table(
        "bucket_hour",
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), autoincrement=False, nullable=False),
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
        sa.PrimaryKeyConstraint("topic", "source", "start_ts"),
    )
    any_incomplete = (
        "bool_or(incomplete)" if op.get_bind().dialect.name == "postgresql" else "max(incomplete)"
    )
    sums = ", ".join(f"sum({c})" for c in _SUMS.split(", "))
    op.execute(
        f"INSERT INTO bucket_hour (topic, source, start_ts, {_SUMS}, incomplete) "
        f"SELECT topic, source, start_ts / 3600 * 3600, {sums}, {any_incomplete} FROM bucket "
        f"WHERE width_s = 60 GROUP BY topic, source, start_ts / 3600 * 3600"
    )


def downgrade() -> None:
    op.drop_table("bucket_hour")
