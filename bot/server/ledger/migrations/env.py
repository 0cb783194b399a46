"""Alembic's entry: run the revisions on the connection `Ledger.migrate` passes in (already locked)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
