"""The self-hosted webhook server: Flask app, worker, queue, ledger, metrics, dashboard, serve."""
