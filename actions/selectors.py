"""Readers for IMS actions: the documents a request targets, the preview of a bulk action (the confirmation step),
the rule verdicts for one document, runs."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django.utils import timezone

from gst.rule_data import DEFAULT_RULES
from gst.rules import HEADS, ActionRequest, Context, Decision, evaluate_many
from gst.sections import SECTIONS, Action, Section
from ims_project import rls
from invoices.filters import DocumentFilter
from invoices.models import SupplierDocument
from invoices.selectors import documents_for
from returns.models import Gstr3bFiling
from tenancy.models import Membership, Registration, Tenant

from . import facts as rule_facts
from .errors import ActionError, DocumentsNotFound
from .models import BulkActionRun
from .requests import action_request, parse_overrides, require_act

MAX_IDS = 100_000
# Query-string keys of the list page that are not filters.
NOT_FILTERS = frozenset({"cursor", "sort", "per_page", "csrfmiddlewaretoken"})
OUTCOMES = ("apply", "already", "refused")


def filter_data(params) -> QueryDict:
    """A QueryDict of filter parameters from a QueryDict, a query string or a JSON object (values or lists)."""
    if isinstance(params, str):
        data = QueryDict(params, mutable=True)
    else:
        data = QueryDict(mutable=True)
        items = params.lists() if isinstance(params, QueryDict) else (params or {}).items()
        for key, value in items:
            values = value if isinstance(value, list | tuple) else [value]
            data.setlist(str(key), [str(v) for v in values if v is not None])
    for key in NOT_FILTERS:
        data.pop(key, None)
    return data


def ids_in(ids) -> RawSQL:
    """``pk__in=ids_in(ids)``: one array parameter however many ids (an IN list is capped at 65,535)."""
    return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])


# Fewer documents than this are acted on without a look at the statistics (a few thousand comparisons at worst).
STATISTICS_CHECK_MIN = 1000


def keep_statistics(n: int) -> bool:
    """ANALYZE the documents table when its statistics know of fewer rows than the ``n`` about to be acted on (never
    analyzed, or filled since by a path that did not analyze, with autovacuum not yet round). On the statistics of an
    empty table the planner joins the grouping and the UPDATE of a bulk action by nested loops, n² comparisons:
    20,000 documents took 27 s and 20 s instead of well under one each. Returns whether it analyzed."""
    if n < STATISTICS_CHECK_MIN:
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'invoices_supplierdocument'::regclass")
        (estimate,) = cur.fetchone()
        if estimate >= n:
            return False
        rls.analyze(cur, "invoices_supplierdocument")  # only the table's owner may analyze it (its function)
    return True


def lock_documents(*, tenant: Tenant, qs: QuerySet, limit: int | None = None) -> list[int]:
    """Lock (``FOR UPDATE``) the documents of ``qs`` — the first ``limit`` of them by id — in id order and return
    their ids. Must run in a transaction; read the locked documents again in a new statement to see their
    committed state.

    The target is cut first (a materialised CTE: ``FOR UPDATE`` refuses the DISTINCT or GROUP BY a filter may
    bring), then its rows are locked by id alone: a row another transaction changed while we waited for it is
    still locked and returned (the filter is re-applied by the caller's next statement), so a chunk never comes
    back shorter than it was cut and the cursor over a filter stays right."""
    inner = qs.order_by("pk").values("pk")[:limit] if limit else qs.order_by().values("pk")
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(
            f"WITH target (id) AS MATERIALIZED ({sql}) SELECT d.id FROM invoices_supplierdocument d "  # nosec B608  # Django's own compiled SQL, its params passed
            f"JOIN target t ON t.id = d.id WHERE d.tenant_id = %s ORDER BY d.id FOR UPDATE OF d",
            [*params, tenant.pk],
        )
        return list(dict.fromkeys(row[0] for row in cur.fetchall()))


def target(
    *, tenant: Tenant, user, membership: Membership | None, ids=None, filters=None
) -> tuple[QuerySet[SupplierDocument], int, int]:
    """:func:`target_documents` (strict) with its count and largest id; for ids, from the one query that checks
    them."""
    found: list[int] = []
    qs = target_documents(
        tenant=tenant, user=user, membership=membership, ids=ids, filters=filters, found=found
    )
    if ids is not None:
        return qs, len(found), max(found, default=0)
    return (qs, *target_size(qs))


def target_documents(
    *,
    tenant: Tenant,
    user,
    membership: Membership | None,
    ids=None,
    filters=None,
    strict: bool = True,
    found: list[int] | None = None,
) -> QuerySet[SupplierDocument]:
    """The documents a bulk request names: ``ids`` (each re-checked against what ``user`` may see: with
    ``strict``, one foreign or invisible id refuses the whole request with :class:`DocumentsNotFound`) or every
    document matching ``filters`` (the list page's query, re-run here with the same FilterSet)."""
    base = documents_for(tenant=tenant, user=user, membership=membership)
    if ids is not None:
        try:
            wanted = {int(i) for i in ids}
        except (TypeError, ValueError):
            raise ActionError("ids", "invalid_ids", "Document ids must be whole numbers.") from None
        if not wanted:
            raise ActionError("ids", "no_documents", "Select at least one document.")
        if len(wanted) > MAX_IDS:
            raise ActionError(
                "ids", "too_many_ids", f"At most {MAX_IDS:,} ids at once; use the filter to act on more."
            )
        qs = base.filter(pk__in=ids_in(sorted(wanted)))
        if strict:
            present = list(qs.values_list("pk", flat=True))
            missing = wanted.difference(present)
            if missing:
                raise DocumentsNotFound(sorted(missing))
            if found is not None:
                found.extend(present)
        return qs
    filterset = DocumentFilter(
        filter_data(filters), queryset=base, tenant=tenant, user=user, membership=membership
    )
    if not filterset.is_valid():
        errors = {k: " ".join(v) for k, v in filterset.errors.items()}
        raise ActionError(
            next(iter(errors)), "invalid_filter", "; ".join(f"{k}: {v}" for k, v in errors.items())
        )
    return filterset.qs


def check_in_target(qs: QuerySet[SupplierDocument], ids: list[int]) -> None:
    """Refuse per-document declarations for documents outside the bulk action's selection."""
    present = set(qs.filter(pk__in=ids_in(ids)).values_list("pk", flat=True))
    missing = [i for i in ids if i not in present]
    if missing:
        shown = ", ".join(map(str, missing[:20]))
        raise ActionError(
            "overrides",
            "not_in_selection",
            f"Documents with their own declaration are not in the selection: {shown}.",
        )


def rule_inputs(*, tenant: Tenant) -> tuple[dict[int, tuple[str, str]], set[tuple[int, dt.date]]]:
    """The tenant's GSTINs (id → frequency, state) and the filed GSTR-3B periods: small, read once per request."""
    regs = {
        pk: (freq, state)
        for pk, freq, state in Registration.objects.filter(tenant=tenant).values_list(
            "pk", "filing_frequency", "state_code"
        )
    }
    filed = set(Gstr3bFiling.objects.filter(tenant=tenant).values_list("registration_id", "period"))
    return regs, filed


def rule_context() -> Context:
    return Context(today=timezone.localdate())


def fact_rows(qs: QuerySet, request: ActionRequest, *extra: str):
    """``qs`` with the rule columns (and ``extra`` plain columns) as named tuples."""
    mode = rule_facts.decl_mode(request)
    remarks = (request.remarks or "").strip()
    return qs.annotate(**rule_facts.fact_columns(remarks)).values_list(
        *extra, *rule_facts.key_columns(mode), named=True
    )


def has_declaration(request: ActionRequest) -> bool:
    """Whether the request makes a declaration itself (not only a default answer)."""
    return rule_facts.decl_mode(request) == rule_facts.DECLARE


def uses_declaration(request: ActionRequest) -> bool:
    """Whether the declaration columns matter to the request: it makes a declaration, or it accepts (§4.4)."""
    return bool(rule_facts.decl_mode(request))


# --- preview ---------------------------------------------------------------------------------------------------


@dataclass
class Preview:
    """What a bulk action would do. ``sections``: section → outcome → count; ``itc``: the new action → tax head
    → ITC of the documents that would change (credit notes negative); ``refusals`` / ``warnings``: code →
    {message, count}."""

    action: str
    total: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    itc: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    refusals: dict[str, dict] = field(default_factory=dict)
    warnings: dict[str, dict] = field(default_factory=dict)

    @property
    def section_rows(self) -> list[tuple[str, str, dict[str, int]]]:
        return [(s, SECTIONS[Section(s)].label, c) for s, c in sorted(self.sections.items())]

    def add(self, other: Preview) -> Preview:
        """This preview plus ``other`` (the same action on other documents)."""
        self.total += other.total
        for outcome, n in other.outcomes.items():
            self.outcomes[outcome] += n
        for section, counts in other.sections.items():
            mine = self.sections.setdefault(section, dict.fromkeys(OUTCOMES, 0))
            for outcome, n in counts.items():
                mine[outcome] += n
        for action, heads in other.itc.items():
            mine_heads = self.itc.setdefault(action, rule_facts.heads_zero())
            for h, v in heads.items():
                mine_heads[h] += v
        for target, source in ((self.refusals, other.refusals), (self.warnings, other.warnings)):
            for code, entry in source.items():
                mine_entry = target.setdefault(code, {"message": entry["message"], "count": 0})
                mine_entry["count"] += entry["count"]
        return self

    def as_json(self) -> dict:
        return {
            "action": self.action,
            "total": self.total,
            "outcomes": self.outcomes,
            "sections": self.sections,
            "itc": {a: {h: str(v) for h, v in heads.items()} for a, heads in self.itc.items()},
            "refusals": self.refusals,
            "warnings": self.warnings,
        }


def preview(*, tenant: Tenant, qs: QuerySet, request: ActionRequest) -> Preview:
    """Counts by section and outcome (will apply / already so / refused) and the ITC effect by tax head, for every
    document in ``qs``. One GROUP BY over the rule columns in SQL (a million documents collapse to a few thousand
    kinds); the rules are applied once per kind."""
    mode = rule_facts.decl_mode(request)
    declaring = bool(mode)
    regs, filed = rule_inputs(tenant=tenant)
    builder = rule_facts.FactsBuilder(registrations=regs, filed=filed, declaring=declaring)
    remarks = (request.remarks or "").strip()
    sums = {"n": Count("pk"), **{f"s_{h}": Sum(h) for h in HEADS}}
    # Documents without a linked original (nearly all) need no self-join: two grouped queries.
    parts = [
        *rule_facts.grouping(
            qs.filter(original__isnull=True).annotate(
                **rule_facts.fact_columns(remarks, with_original=False)
            ),
            mode,
        ),
        *rule_facts.grouping(
            qs.filter(original__isnull=False).annotate(**rule_facts.fact_columns(remarks)), mode
        ),
    ]
    with transaction.atomic(), hash_grouping():
        groups = [g for part, keys in parts for g in part.values(*keys).annotate(**sums).order_by()]
    out = Preview(action=str(request.action).strip().upper())
    if not groups:
        return out
    rows = [_Row(g) for g in groups]
    decisions = evaluate_many(request, (builder.facts(r) for r in rows), rule_context())
    for row, decision in zip(rows, decisions, strict=True):
        outcome, state = classify(row, request, decision, declaring)
        n = row.n
        out.total += n
        out.outcomes[outcome] += n
        counts = out.sections.setdefault(row.section, dict.fromkeys(OUTCOMES, 0))
        counts[outcome] += n
        if outcome == "refused":
            entry = out.refusals.setdefault(decision.code, {"message": decision.message, "count": 0})
            entry["count"] += n
            continue
        if outcome == "apply":
            rule_facts.count_notices(out.warnings, decision, n)
            effect = out.itc.setdefault(state.action or row.portal_action, rule_facts.heads_zero())
            sign = rule_facts.itc_sign(row.section)
            for h in HEADS:
                effect[h] += sign * (getattr(row, f"s_{h}") or rule_facts.ZERO)
    return out


def kinds(qs: QuerySet, request: ActionRequest) -> list[_Row]:
    """The documents of ``qs`` grouped by the rule columns (:func:`actions.facts.key_columns`): one row per kind of
    document with those columns and ``ids`` (the documents of that kind). The rules decide each kind once, the way
    the preview does, so a bulk action needs no per-document rule work in Python. Must run in a transaction."""
    mode = rule_facts.decl_mode(request)
    remarks = (request.remarks or "").strip()
    parts = [
        *rule_facts.grouping(
            qs.filter(original__isnull=True).annotate(
                **rule_facts.fact_columns(remarks, with_original=False)
            ),
            mode,
        ),
        *rule_facts.grouping(
            qs.filter(original__isnull=False).annotate(**rule_facts.fact_columns(remarks)), mode
        ),
    ]
    with hash_grouping():
        groups = [
            g for part, keys in parts for g in part.values(*keys).annotate(ids=ArrayAgg("pk")).order_by()
        ]
    return [_Row(g) for g in groups]


_GROUPING = (("enable_sort", "off"), ("jit", "off"), ("work_mem", "64MB"))


@contextmanager
def hash_grouping():
    """Within the current transaction: group by hashing in memory (a few thousand groups from up to a million rows;
    the planner cannot estimate the distinct count of twenty columns, so it would sort the rows to disk instead;
    JIT only adds time here). The settings before are restored afterwards, for the rest of the transaction."""
    names = [name for name, _v in _GROUPING]
    with connection.cursor() as cur:
        cur.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
        before = cur.fetchone()
        cur.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
            [x for pair in _GROUPING for x in pair],
        )
    yield  # on an error the transaction (or its savepoint) is rolled back: nothing to restore then
    with connection.cursor() as cur:
        cur.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
            [x for pair in zip(names, before, strict=True) for x in pair],
        )


def bulk_preview(
    *,
    tenant: Tenant,
    user,
    membership: Membership | None,
    ids=None,
    filters=None,
    action: str,
    remarks: str = "",
    declaration: dict[str, object] | None = None,
    itc_red_default: str | None = DEFAULT_RULES.itc_red_default,
    overrides: dict[str, dict[str, object]] | dict[int, dict[str, object]] | None = None,
) -> Preview:
    """The confirmation step of :func:`actions.services.bulk_set_action`: same checks (role, ids, filter,
    request, per-document declarations), nothing changed."""
    require_act(membership, tenant)
    request = action_request(
        action=action, remarks=remarks, declaration=declaration, itc_red_default=itc_red_default
    )
    groups = parse_overrides(overrides, action=action, remarks=remarks, itc_red_default=itc_red_default)
    qs = target_documents(tenant=tenant, user=user, membership=membership, ids=ids, filters=filters)
    override_ids = sorted(i for group_ids, _r, _d in groups for i in group_ids)
    if not override_ids:
        return preview(tenant=tenant, qs=qs, request=request)
    check_in_target(qs, override_ids)
    out = preview(tenant=tenant, qs=qs.exclude(pk__in=ids_in(override_ids)), request=request)
    for group_ids, group_request, _declaration in groups:
        out.add(preview(tenant=tenant, qs=qs.filter(pk__in=ids_in(group_ids)), request=group_request))
    return out


@dataclass
class Specified:
    """A document of a bulk Accept that takes the ITC-reduction answer (docs/rules/ims-actions.md §4.4)."""

    id: int
    section: str
    doc_number: str
    supplier_gstin: str
    doc_date: dt.date
    tax: dict[str, Decimal]
    portal_itc_red_req: str
    itc_red_blocked: bool


MAX_SPECIFIED_SHOWN = 200


def specified_documents(
    *,
    tenant: Tenant,
    user: object,
    membership: Membership | None,
    ids: list[int] | None = None,
    filters: object = None,
    limit: int = MAX_SPECIFIED_SHOWN,
) -> tuple[list[Specified], int]:
    """The documents of a bulk selection whose Accept takes the answer to "Whether ITC needs to be reduced?" (the
    sections of specified records: credit notes and amendments), the first ``limit`` by id for the confirmation
    step's per-document answers, and how many there are."""
    qs = target_documents(tenant=tenant, user=user, membership=membership, ids=ids, filters=filters).filter(
        section__in=rule_facts.SPECIFIED_SECTIONS
    )
    rows = [
        Specified(
            r["pk"],
            r["section"],
            r["doc_number"],
            r["supplier_gstin"],
            r["doc_date"],
            {h: r[h] for h in HEADS},
            r["portal_itc_red_req"],
            r["itc_red_blocked"],
        )
        for r in qs.order_by("pk").values(
            "pk",
            "section",
            "doc_number",
            "supplier_gstin",
            "doc_date",
            *HEADS,
            "portal_itc_red_req",
            "itc_red_blocked",
        )[:limit]
    ]
    return rows, (len(rows) if len(rows) < limit else qs.count())


class _Row:
    __slots__ = ("__dict__",)

    def __init__(self, values: dict):
        self.__dict__.update(values)


def classify(
    row, request: ActionRequest, decision: Decision, declaring: bool
) -> tuple[str, rule_facts.State | None]:
    """(outcome, new local state): "refused", "already" (nothing would change) or "apply"."""
    if not decision.allowed:
        return "refused", None
    state = rule_facts.new_local_state(row, rule_facts.wanted_state(request, decision), declaring)
    if rule_facts.is_current(row, state, declaring):
        return "already", state
    return "apply", state


# --- one document ----------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    action: str
    label: str
    decision: Decision


def document_verdicts(*, tenant: Tenant, document: SupplierDocument) -> list[Verdict]:
    """The rule verdict of each action (accept, reject, pending, reset) on one document, as things stand."""
    regs, filed = rule_inputs(tenant=tenant)
    builder = rule_facts.FactsBuilder(registrations=regs, filed=filed, declaring=True)
    qs = SupplierDocument.objects.filter(tenant=tenant, pk=document.pk)
    labels = {
        Action.ACCEPTED: "Accept",
        Action.REJECTED: "Reject",
        Action.PENDING: "Pending",
        Action.NO_ACTION: "Reset to no action",
    }
    facts = builder.facts(fact_rows(qs, ActionRequest("A", itc_red_req="Y")).get())
    # Accept as the page offers it: with the portal's default answer (docs/rules/ims-actions.md §4.4).
    default = DEFAULT_RULES.itc_red_default
    return [
        Verdict(
            action.value,
            label,
            evaluate_many(ActionRequest(action.value, itc_red_default=default), [facts], rule_context())[0],
        )
        for action, label in labels.items()
    ]


# --- runs ------------------------------------------------------------------------------------------------------


def runs_for(*, tenant: Tenant, user) -> QuerySet[BulkActionRun]:
    """The bulk actions ``user`` started in ``tenant``, newest first."""
    return BulkActionRun.objects.filter(tenant=tenant, user_id=user.pk)


def run_for(*, tenant: Tenant, user, pk: int) -> BulkActionRun:
    """One of ``user``'s runs; raises DoesNotExist for anyone else's (404)."""
    return runs_for(tenant=tenant, user=user).get(pk=pk)


def target_size(qs: QuerySet) -> tuple[int, int]:
    """(count, largest id) of a target."""
    agg = qs.order_by().aggregate(n=Count("pk"), top=Max("pk"))
    return agg["n"] or 0, agg["top"] or 0
