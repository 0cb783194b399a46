"""GitLab beside GitHub: a host on every job, review, call and PR budget, and the GitLab project id on jobs.

Existing rows are GitHub's. A GitHub repo and a GitLab project may share a path (mirrors do), so the host
joins the live-head index and the PR budget's key.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def _host() -> sa.Column:
    return sa.Column("host", sa.Text, nullable=False, server_default="github")


def upgrade() -> None:
    """Add the host columns, re-key pr_budgets and the live-head index by host."""
    for table in ("jobs", "reviews", "calls"):
        op.add_column(table, _host())
    op.add_column("jobs", sa.Column("project_id", sa.BigInteger))
    op.drop_index("ux_jobs_live_head", "jobs")
    live = sa.text("state IN ('queued', 'running', 'done')")
    op.create_index("ux_jobs_live_head", "jobs", ["host", "repo", "pr_number", "head_sha", "forced"], unique=True,
                    sqlite_where=live, postgresql_where=live)
    op.create_table("pr_budgets_by_host", _host(), sa.Column("repo", sa.Text, nullable=False),
                    sa.Column("pr_number", sa.Integer, nullable=False),
                    sa.Column("spent_micros", sa.BigInteger, nullable=False),
                    sa.Column("reserved_micros", sa.BigInteger, nullable=False),
                    sa.PrimaryKeyConstraint("host", "repo", "pr_number"))
    op.execute("INSERT INTO pr_budgets_by_host (host, repo, pr_number, spent_micros, reserved_micros) "
               "SELECT 'github', repo, pr_number, spent_micros, reserved_micros FROM pr_budgets")
    op.drop_table("pr_budgets")
    op.rename_table("pr_budgets_by_host", "pr_budgets")
