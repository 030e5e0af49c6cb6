"""Scoring predictions: every per-fold metric, and the statistics that compare methods across folds."""
