"""The server area."""
