"""REST API (under /api/v1/t/<slug>/): purchase-register bulk upsert, runs and their summary."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from gst.register_checks import FLAG_LABELS
from ims_project.params import as_id, is_id
from tenancy.api import TenantAPIMixin
from tenancy.roles import Scope
from tenancy.scoping import scopes_disabled
from tenancy.selectors import visible_registrations

from . import selectors, services
from .domain.matching import OUTCOME_LABELS
from .models import ReconMatch, ReconRun

UPSERT = inline_serializer(
    "RegisterUpsertIn", {"lines": serializers.ListField(child=serializers.DictField())}
)
UPSERT_OUT = inline_serializer(
    "RegisterUpsertOut",
    {
        "received": serializers.IntegerField(),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
        "flagged": serializers.ListField(child=serializers.DictField()),
    },
)
SUMMARY_OUT = inline_serializer(
    "ReconRunSummary",
    {
        "run": serializers.IntegerField(),
        "status": serializers.CharField(),
        "progress": serializers.IntegerField(),
        "counts": serializers.DictField(),
        "rules_version": serializers.IntegerField(),
        "outcomes": serializers.DictField(),
        "suppliers": serializers.ListField(child=serializers.DictField()),
    },
)


class RegisterUpsert(TenantAPIMixin, APIView):
    token_scopes = {"POST": Scope.REGISTER_WRITE}

    @extend_schema(
        request=UPSERT,
        responses={200: UPSERT_OUT, 207: UPSERT_OUT},
        summary="Create or update up to 10,000 purchase-register lines",
        description="Lines by ERP reference (re-sending one updates it). 200 all written; 207 some "
        "lines refused (errors: index, field, message): only lines that cannot be read. A line that breaks a GST "
        "rule (tax split, CGST ≠ SGST, tax over 40 %, number over 16 characters, GSTIN check character, dates) "
        "is written and listed in flagged (index, flags: {code: message}). recipient_gstin may be left out when "
        "you may write for one GSTIN only. Idempotency-Key header replays.",
    )
    def post(self, request, tenant_slug):
        try:
            status, body = services.upsert_lines(
                tenant=self.tenant,
                actor=self.actor,
                user=request.user,
                membership=self.membership,
                lines=request.data.get("lines") if isinstance(request.data, dict) else None,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except services.Forbidden as e:
            return Response({"code": "forbidden", "message": str(e)}, status=403)
        except services.ReconError as e:
            return Response(
                {"code": e.code, "field": e.field, "message": e.message},
                status=422 if e.code == "idempotency_key_reused" else 400,
            )
        return Response(body, status=status)


class RunSummary(TenantAPIMixin, APIView):
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        summary="Summary of a reconciliation run by outcome and supplier", responses={200: SUMMARY_OUT}
    )
    def get(self, request, tenant_slug, pk):
        run = (
            selectors.runs_for(tenant=self.tenant, user=request.user, membership=self.membership)
            .filter(pk=pk)
            .first()
        )
        if run is None:
            return Response({"code": "not_found", "message": "No such run."}, status=404)
        regs = visible_registrations(tenant=self.tenant, user=request.user, membership=self.membership)
        data = selectors.summary(run=run, registration_ids=list(regs.values_list("pk", flat=True)))
        return Response(
            {
                "run": run.pk,
                "status": run.status,
                "progress": run.progress,
                "counts": run.counts,
                "rules_version": run.rules.version,
                **data,
            }
        )


class MatchSerializer(serializers.ModelSerializer):
    recipient_gstin = serializers.CharField(source="registration.gstin", read_only=True)
    purchase = serializers.SerializerMethodField()
    document = serializers.SerializerMethodField()
    differences = serializers.SerializerMethodField(
        help_text="Supplier − books, per amount that differs; days likewise (supplier's date − the books')"
    )
    differing_fields = serializers.SerializerMethodField()
    reasons = serializers.SerializerMethodField()

    class Meta:
        model = ReconMatch
        fields = [
            "id",
            "run",
            "outcome",
            "recipient_gstin",
            "supplier_gstin",
            "purchase",
            "document",
            "group_no",
            "similarity",
            "days",
            "differences",
            "differing_fields",
            "pan_fallback",
            "across_fy",
            "duplicate_of",
            "reasons",
        ]

    def get_purchase(self, m) -> dict | None:
        p = m.purchase
        return (
            {
                "id": p.pk,
                "erp_ref": p.erp_ref,
                "doc_number": p.doc_number,
                "doc_date": p.doc_date,
                "supply_type": p.supply_type,
                "boe_number": p.boe_number,
                "boe_date": p.boe_date,
                "port_code": p.port_code,
                "flags": p.flags or {},
            }
            if p
            else None
        )

    def get_document(self, m) -> dict | None:
        d = m.document
        if d is None:
            return None
        return {
            "id": d.pk,
            "section": d.section,
            "doc_number": d.doc_number,
            "doc_date": d.doc_date,
            "port_code": d.port_code or "",
        }

    def get_differences(self, m) -> dict:
        return {k: str(v) for k, v in m.diffs.items()}

    def get_differing_fields(self, m) -> list[str]:
        return selectors.differing_fields(m)

    def get_reasons(self, m) -> list[dict]:
        return selectors.reason_list(m)


class MatchCursorPagination(CursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


def _bad_run_param(request) -> Response | None:
    """A 400 naming the field when ``?run=`` is not a run id."""
    run_id = request.query_params.get("run", "")
    if run_id and not is_id(run_id):
        return Response({"code": "invalid", "field": "run", "message": "Give a run id."}, status=400)
    return None


def _chosen_run(view) -> ReconRun:
    """The run ``?run=`` names among those the caller may see, else their latest finished one; 404 otherwise."""
    runs = selectors.runs_for(tenant=view.tenant, user=view.request.user, membership=view.membership)
    run_id = view.request.query_params.get("run")
    run = runs.filter(pk=as_id(run_id)).first() if run_id else runs.filter(status="done").first()
    if run is None:
        raise NotFound("No such run.")
    return run


class MatchList(TenantAPIMixin, generics.ListAPIView):
    """Result rows of a run (``?run=``; default the latest finished run) with reason codes, optionally
    ``?outcome=`` and ``?supplier_gstin=``; follow ``next``."""

    token_scopes = {"GET": Scope.READ}

    serializer_class = MatchSerializer
    pagination_class = MatchCursorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("run", int, description="Run id (default: the latest finished run)"),
            OpenApiParameter("outcome", str, enum=[o.value for o in OUTCOME_LABELS]),
            OpenApiParameter("supplier_gstin", str),
            OpenApiParameter(
                "flag",
                str,
                enum=["any", *FLAG_LABELS],
                description="Only rows whose register line carries this flag (any: any flag)",
            ),
        ],
        summary="Reconciliation results with reason codes",
    )
    def get(self, request, *args, **kwargs):
        outcome = request.query_params.get("outcome", "")
        if outcome and outcome not in OUTCOME_LABELS:
            return Response(
                {"code": "invalid", "field": "outcome", "message": "No such outcome."}, status=400
            )
        flag = request.query_params.get("flag", "")
        if flag and flag != selectors.ANY_FLAG and flag not in FLAG_LABELS:
            return Response({"code": "invalid", "field": "flag", "message": "No such flag."}, status=400)
        if bad := _bad_run_param(request):
            return bad
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            with scopes_disabled():
                return ReconMatch.objects.none()
        params = self.request.query_params
        run = _chosen_run(self)
        qs = selectors.matches_for(
            tenant=self.tenant, user=self.request.user, membership=self.membership, run=run
        )
        if params.get("outcome"):
            qs = qs.filter(outcome=params["outcome"])
        if params.get("supplier_gstin"):
            qs = qs.filter(supplier_gstin=params["supplier_gstin"].strip().upper())
        if params.get("flag"):
            qs = selectors.with_flag(qs, params["flag"])
        return qs


class WritebackSerializer(serializers.ModelSerializer):
    """A correction the ERP may apply: the supplier's number and date for a line booked otherwise
    (``correct_line``), or a new purchase line for a document only in supplier data (``new_line``)."""

    type = serializers.SerializerMethodField()
    idempotency_key = serializers.SerializerMethodField()
    line = serializers.SerializerMethodField()
    supplier_document = serializers.SerializerMethodField()

    class Meta:
        model = ReconMatch
        fields = ["id", "run", "type", "idempotency_key", "outcome", "line", "supplier_document"]

    def get_type(self, m) -> str:
        return "new_line" if m.purchase_id is None else "correct_line"

    def get_idempotency_key(self, m) -> str:
        """Stable for the correction (the same in every run): the ERP applies each once."""
        return selectors.writeback_key(m)

    def get_line(self, m) -> dict | None:
        return selectors.writeback_proposal(m)["line"]

    def get_supplier_document(self, m) -> dict:
        return selectors.writeback_proposal(m)["supplier_document"]


class Writeback(TenantAPIMixin, generics.ListAPIView):
    """What the ERP may write back from a run (``?run=``; default the latest finished run): for each pair whose
    register line has another number or date than the supplier's document, the supplier's number and date; for each
    document only in supplier data (within what the register covers), the purchase line to add. Each proposal has
    an idempotency key the ERP keeps to apply it once."""

    serializer_class = WritebackSerializer
    pagination_class = MatchCursorPagination
    token_scopes = {"GET": Scope.READ}

    @extend_schema(
        parameters=[OpenApiParameter("run", int, description="Run id (default: the latest finished run)")],
        summary="Corrections the ERP may write back: the supplier's number and date, or a new purchase line",
    )
    def get(self, request, *args, **kwargs):
        if bad := _bad_run_param(request):
            return bad
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            with scopes_disabled():
                return ReconMatch.objects.none()
        run = _chosen_run(self)
        return selectors.writeback_for(
            tenant=self.tenant, user=self.request.user, membership=self.membership, run=run
        )


WRITEBACK_SEND_OUT = inline_serializer(
    "ReconWritebackSent",
    {
        "run": serializers.IntegerField(),
        "sent": serializers.ListField(child=serializers.CharField()),
        "already_sent": serializers.ListField(child=serializers.CharField()),
    },
)


class WritebackSend(TenantAPIMixin, APIView):
    """Send a run's write-back proposals to the ERP through the organisation's webhooks subscribed to
    ``reconciliation.writeback`` (signed, retried with back-off, each with its idempotency key)."""

    token_scopes = {"POST": Scope.ACT}

    @extend_schema(
        request=inline_serializer(
            "ReconWritebackSend",
            {
                "run": serializers.IntegerField(required=False),
                "ids": serializers.ListField(child=serializers.IntegerField(), required=False),
            },
        ),
        responses={200: WRITEBACK_SEND_OUT},
        summary="Send corrections to the ERP through the organisation's signed webhook",
        description="run: the run (default the latest finished one); ids: the proposals (the write-back list's "
        "ids; default all). A proposal already sent is not sent again (already_sent). Needs the right to act. "
        "409 (code no_webhook, nothing marked sent) when no webhook of the organisation receives "
        "reconciliation.writeback.",
    )
    def post(self, request, tenant_slug):
        data = request.data if isinstance(request.data, dict) else {}
        try:
            out = services.send_writeback(
                tenant=self.tenant,
                actor=self.actor,
                user=request.user,
                membership=self.membership,
                run_id=data.get("run"),
                ids=data.get("ids"),
            )
        except services.Forbidden as e:
            return Response({"code": "forbidden", "message": str(e)}, status=403)
        except services.ReconError as e:
            return Response(
                {"code": e.code, "field": e.field, "message": e.message},
                status={"not_found": 404, "no_webhook": 409}.get(e.code, 400),
            )
        return Response(out)
