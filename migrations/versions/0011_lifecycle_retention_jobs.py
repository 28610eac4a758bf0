"""The scheduler's rules: job runs per period, the inactivity lifecycle (R28) and
retention per folder (R25).

- `job_run`: one row per (job, period), so a job done for a period is not done again;
- `bal`: lifecycle state, last `mss bal keep`, the notice sent and where notices go;
- `bal_retention`: a BAL's own retention period per folder;
- `address_reservation`: addresses of BALs deleted for inactivity, kept from reuse.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("runner", sa.String(64), nullable=False))
    with op.batch_alter_table("bal") as batch:
        batch.add_column(sa.Column("lifecycle_state", sa.String(16), nullable=False,
                                   server_default="active"))
        batch.add_column(sa.Column("kept_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("notice_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("notice_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("notice_address", sa.String(320), nullable=True))
    op.create_table(
        "bal_retention",
        sa.Column("bal_id", ID, sa.ForeignKey("bal.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("folder", sa.String(400), primary_key=True),
        sa.Column("days", sa.Integer(), nullable=False))
    op.create_table(
        "address_reservation",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("reserved_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("address_reservation")
    op.drop_table("bal_retention")
    with op.batch_alter_table("bal") as batch:
        for column in ("notice_address", "notice_at", "notice_days", "kept_at",
                       "lifecycle_state"):
            batch.drop_column(column)
    op.drop_table("job_run")
