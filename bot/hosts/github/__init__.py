"""GitHub: the PyGithub adapter, App authentication, review posting rules and webhook events."""
