"""The server's durable record: schema (schema.py), Alembic revisions (migrations/), and the store in parts.

base.py (engine, locks, migrate) < budgets.py (holds and paid calls) < jobs.py (fenced jobs) < store.py (reviews, totals).
"""

from bot.server.ledger.base import head_revision
from bot.server.ledger.schema import COVERING_STATES, FINAL_STATES, STATES
from bot.server.ledger.store import Ledger
from bot.server.records import AcceptResult, CallRow, Job, NewJob, ReviewRow

__all__ = ["COVERING_STATES", "FINAL_STATES", "STATES", "AcceptResult", "CallRow", "Job", "Ledger", "NewJob", "ReviewRow",
           "head_revision"]
