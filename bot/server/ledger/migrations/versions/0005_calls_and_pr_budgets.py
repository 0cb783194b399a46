"""A row per paid model call; per-PR budget holds; the reaper's last enqueue; budgets leave the database.

Old reviews become one call each, so totals read from calls keep every dollar already spent. The
`budgets` table goes: operator budgets are configuration, read at start. The hand-rolled
`schema_version` table goes: Alembic's `alembic_version` replaces it.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create calls and pr_budgets, fill them from reviews, add the job columns, drop budgets."""
    op.create_table(
        "calls",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Text), sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("repo", sa.Text, nullable=False), sa.Column("pr_number", sa.Integer, nullable=False),
        sa.Column("installation_id", sa.BigInteger), sa.Column("model", sa.Text, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False), sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_micros", sa.BigInteger, nullable=False), sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False), sa.Column("review_id", sa.BigInteger),
    )
    op.create_index("ix_calls_repo_pr", "calls", ["repo", "pr_number"])
    op.create_index("ix_calls_created_at", "calls", ["created_at"])
    op.create_index("ix_calls_job", "calls", ["job_id"])
    op.execute("INSERT INTO calls (job_id, attempt, repo, pr_number, installation_id, model, prompt_tokens, "
               "completion_tokens, cost_micros, estimated, created_at, review_id) "
               "SELECT job_id, 1, repo, pr_number, installation_id, COALESCE(model, ''), prompt_tokens, "
               "completion_tokens, cost_micros, estimated, finished_at, id FROM reviews")
    op.create_table("pr_budgets", sa.Column("repo", sa.Text, primary_key=True),
                    sa.Column("pr_number", sa.Integer, primary_key=True),
                    sa.Column("spent_micros", sa.BigInteger, nullable=False),
                    sa.Column("reserved_micros", sa.BigInteger, nullable=False))
    op.execute("INSERT INTO pr_budgets (repo, pr_number, spent_micros, reserved_micros) "
               "SELECT repo, pr_number, SUM(cost_micros), 0 FROM reviews GROUP BY repo, pr_number")
    op.add_column("jobs", sa.Column("pr_held_micros", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("enqueued_at", sa.Float, nullable=False, server_default="0"))
    op.execute("UPDATE jobs SET enqueued_at = created_at")
    op.create_index("ix_jobs_delivery", "jobs", ["delivery_id"])
    op.drop_table("budgets")
    op.execute("DROP TABLE IF EXISTS schema_version")
