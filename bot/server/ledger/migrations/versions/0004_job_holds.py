"""Remember what each job holds in the monthly budgets, so a crashed worker's hold can be released.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Add jobs.held_micros and jobs.held_month."""
    op.add_column("jobs", sa.Column("held_micros", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("held_month", sa.Text))
