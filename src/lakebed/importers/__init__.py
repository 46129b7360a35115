"""Importers: bring data and definitions from other tools into a lake.

- :mod:`lakebed.importers.mlflow`: experiments, runs, metrics, artifacts and registered
  models from an MLflow tracking store (``lakebed import mlflow``).
- :mod:`lakebed.importers.feast`: a Feast repository's entities, feature views and
  feature services as lakebed definitions (``lakebed import feast``).
"""
