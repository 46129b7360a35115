"""The rag area."""
