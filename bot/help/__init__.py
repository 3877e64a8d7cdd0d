"""The help centre's own logic: search with snippets, article votes, searches that found nothing."""
