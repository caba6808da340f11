"""Saved views of the documents list (``invoices.saved_views.SavedView``): save (or replace) one under a name, delete
one. Each change is audited in its transaction."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from audit.services import Actor, record
from tenancy.models import Tenant

from ..saved_views import MAX_VIEWS, SavedView

NOT_SAVED = frozenset({"cursor", "csrfmiddlewaretoken", "then", "bare", "name", "shared"})


class SavedViewError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def save_view(*, tenant: Tenant, actor: Actor, user: User, name: str, query: str, shared: bool) -> SavedView:
    """Save the list's ``query`` as ``user``'s view ``name`` (replacing their view of that name). Raises
    :class:`SavedViewError` for a missing or long name, a long query or too many views."""
    name = " ".join((name or "").split())
    if not name:
        raise SavedViewError("name", "Give the view a name.")
    if len(name) > 80:
        raise SavedViewError("name", "A view's name is at most 80 characters.")
    if len(query) > 2000:
        raise SavedViewError("query", "This filter is too long to save.")
    with transaction.atomic():
        view = SavedView.objects.select_for_update().filter(tenant=tenant, user=user, name=name).first()
        before = (view.query, view.shared) if view else (None, None)
        if view is None:
            if SavedView.objects.filter(tenant=tenant, user=user).count() >= MAX_VIEWS:
                raise SavedViewError("name", f"At most {MAX_VIEWS} saved views each: delete one first.")
            view = SavedView.objects.create(tenant=tenant, user=user, name=name, query=query, shared=shared)
        else:
            view.query, view.shared = query, shared
            view.save(update_fields=["query", "shared", "updated_at"])
        record(
            tenant=tenant,
            actor=actor,
            action="documents.view_saved",
            obj=view,
            object_repr=name,
            changes={"query": [before[0], query], "shared": [before[1], shared]},
        )
    return view


def delete_view(*, tenant: Tenant, actor: Actor, user: User, pk: int) -> None:
    """Delete ``user``'s own view ``pk``; raises ``SavedView.DoesNotExist`` for any other."""
    with transaction.atomic():
        view = SavedView.objects.select_for_update().get(tenant=tenant, user=user, pk=pk)
        record(
            tenant=tenant,
            actor=actor,
            action="documents.view_deleted",
            obj=view,
            object_repr=view.name,
            changes={"query": [view.query, None], "shared": [view.shared, None]},
        )
        view.delete()
