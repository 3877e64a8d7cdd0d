"""Insights for the support team: recorded turns, the report, content gaps."""
