"""A Celery task whose progress and partial results stream into a flash_ws page."""
