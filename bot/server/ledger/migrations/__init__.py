"""The ledger's Alembic environment and revisions (run by `Ledger.migrate`, never by hand)."""
