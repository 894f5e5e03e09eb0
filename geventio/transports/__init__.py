"""One module per transport: each moves bytes between a request and a session."""
