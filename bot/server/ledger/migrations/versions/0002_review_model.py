"""Record the model each review used.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Add reviews.model."""
    op.add_column("reviews", sa.Column("model", sa.Text))
