"""Deliveries, jobs, budgets, budget_months and reviews (the ledger's first schema; frozen).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create the first tables."""
    op.create_table("deliveries", sa.Column("delivery_id", sa.Text, primary_key=True),
                    sa.Column("event", sa.Text, nullable=False), sa.Column("received_at", sa.Float, nullable=False))
    op.create_table(
        "jobs",
        sa.Column("id", sa.Text, primary_key=True), sa.Column("delivery_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False), sa.Column("repo", sa.Text, nullable=False),
        sa.Column("pr_number", sa.Integer, nullable=False), sa.Column("head_sha", sa.Text, nullable=False),
        sa.Column("installation_id", sa.BigInteger), sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("state", sa.Text, nullable=False), sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.Text), sa.Column("lease_until", sa.Float), sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False), sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_jobs_repo_pr", "jobs", ["repo", "pr_number"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    live = sa.text("state IN ('queued', 'running', 'done')")  # at most one live job per head and flag
    op.create_index("ux_jobs_live_head", "jobs", ["repo", "pr_number", "head_sha", "forced"], unique=True,
                    sqlite_where=live, postgresql_where=live)
    op.create_table("budgets", sa.Column("scope", sa.Text, primary_key=True), sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("limit_micros", sa.BigInteger, nullable=False))
    op.create_table("budget_months", sa.Column("scope", sa.Text, primary_key=True),
                    sa.Column("key", sa.Text, primary_key=True), sa.Column("month", sa.Text, primary_key=True),
                    sa.Column("spent_micros", sa.BigInteger, nullable=False),
                    sa.Column("reserved_micros", sa.BigInteger, nullable=False))
    op.create_table(
        "reviews",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Text), sa.Column("installation_id", sa.BigInteger), sa.Column("repo", sa.Text, nullable=False),
        sa.Column("pr_number", sa.Integer, nullable=False), sa.Column("pr_url", sa.Text, nullable=False),
        sa.Column("head_sha", sa.Text, nullable=False), sa.Column("changed_lines", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_micros", sa.BigInteger, nullable=False), sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False), sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
    )
    op.create_index("ix_reviews_repo_pr", "reviews", ["repo", "pr_number"])
    op.create_index("ix_reviews_finished_at", "reviews", ["finished_at"])
