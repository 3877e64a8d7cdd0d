"""Web app: demo store page, help centre and JSON API."""
