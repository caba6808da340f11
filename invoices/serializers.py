"""API representations of supplier documents. Dates are ISO 8601 (YYYY-MM-DD), money a decimal string."""

from __future__ import annotations

from rest_framework import serializers

from .models import DocumentVersion, SupplierDocument


class DocumentSerializer(serializers.ModelSerializer):
    recipient_gstin = serializers.CharField(source="registration.gstin", read_only=True)
    supplier_period = serializers.DateField(format="%m%Y", read_only=True, help_text="MMYYYY")
    effective_action = serializers.CharField(
        read_only=True, help_text="local_action if set, else portal_action"
    )

    class Meta:
        model = SupplierDocument
        fields = [
            "id",
            "recipient_gstin",
            "supplier_gstin",
            "section",
            "doc_kind",
            "is_amendment",
            "doc_number",
            "doc_date",
            "fy",
            "supplier_period",
            "supplier_filing_status",
            "pos",
            "doc_value",
            "taxable_value",
            "igst",
            "cgst",
            "sgst",
            "cess",
            "portal_action",
            "local_action",
            "effective_action",
            "needs_review",
            "vanished_at",
        ]
        read_only_fields = fields


class DocumentVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = DocumentVersion
        fields = ["version", "seen_at", "source", "changes"]
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    versions = DocumentVersionSerializer(many=True, read_only=True)

    class Meta(DocumentSerializer.Meta):
        fields = DocumentSerializer.Meta.fields + [
            "orig_doc_number",
            "orig_doc_date",
            "original_id",
            "inv_type",
            "src_form",
            "supplier_filing_date",
            "pending_blocked",
            "remarks_blocked",
            "itc_red_blocked",
            "portal_remarks",
            "portal_itc_red_req",
            "portal_decl_igst",
            "portal_decl_cgst",
            "portal_decl_sgst",
            "portal_decl_cess",
            "local_remarks",
            "local_itc_red_req",
            "local_decl_igst",
            "local_decl_cgst",
            "local_decl_sgst",
            "local_decl_cess",
            "local_updated_at",
            "twob_period",
            "itc_availability_check",
            "itc_claim_period",
            "port_code",
            "ref_date",
            "prev_gstin",
            "itc_eligible",
            "irn",
            "irn_date",
            "version",
            "first_seen_at",
            "last_seen_at",
            "source",
            "versions",
        ]
        read_only_fields = fields
