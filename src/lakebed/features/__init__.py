"""The features area."""
