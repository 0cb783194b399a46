"""Record who asked for a /review and on which comment.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Add jobs.commenter and jobs.comment_id."""
    op.add_column("jobs", sa.Column("commenter", sa.Text))
    op.add_column("jobs", sa.Column("comment_id", sa.BigInteger))
