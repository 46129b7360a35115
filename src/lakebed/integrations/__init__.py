"""Integrations of lakebed with other frameworks (LlamaIndex, LangChain, Dagster)."""
