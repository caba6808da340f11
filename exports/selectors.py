from __future__ import annotations

from django.db.models import QuerySet

from .models import ExportJob


def jobs_for_user(*, tenant, user) -> QuerySet[ExportJob]:
    """The user's own export jobs in ``tenant``, newest first."""
    return ExportJob.objects.filter(tenant=tenant, user_id=user.pk).order_by("-created_at", "-id")


def job_for_user(*, tenant, user, job_id: int) -> ExportJob | None:
    """The job if it belongs to ``tenant`` AND ``user``; None otherwise (callers answer 404)."""
    return jobs_for_user(tenant=tenant, user=user).filter(pk=job_id).first()
