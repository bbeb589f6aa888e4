"""Audiences on demand: `featurepulse audiences export` (docs/reports.md, "Audiences")."""
