"""The review flow shared by the CLI, the Action and the server, over ports for the model and the host."""
