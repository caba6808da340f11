"""Maker-checker: what the approvals app, above actions, decides inside an action's transaction.

A change of local action that an approval policy catches must stay out of the push queue until someone else
approves it, and the bulk confirmation page shows what would be held and the action's impact. The approvals app
owns the policies but sits above actions (it builds on actions' requests and selectors), so it cannot be called
from here by import; it registers one :class:`Gate` when Django starts (``ApprovalsConfig.ready``). Without a
gate nothing is held and the confirmation page shows no impact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Gate:
    # (*, tenant, actor, changes, request, run_id, request_id) -> how many changed documents were held. Runs in the
    # transaction that wrote the change; ``changes``: new local state -> the changed rows (actions.services._update).
    hold: Callable[..., int]
    # (*, tenant, user, membership, ids, filters, action, remarks, declaration) -> the impact preview of a bulk
    # action (with ``.impact``), nothing changed.
    preview: Callable[..., Any]


_gate: Gate | None = None


def register(gate: Gate) -> Gate:
    global _gate
    _gate = gate
    return gate


def hold(**kwargs) -> int:
    return _gate.hold(**kwargs) if _gate is not None else 0


def preview(**kwargs) -> Any:
    return _gate.preview(**kwargs) if _gate is not None else None
