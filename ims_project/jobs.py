"""What every background job of the product (exports, bulk-action runs, 2B rebuilds, register imports,
reconciliation runs) can be doing: one set of states, so pages, APIs and tests read them alike."""

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
