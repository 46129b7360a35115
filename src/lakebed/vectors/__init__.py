"""The vectors area."""
