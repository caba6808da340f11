"""``manage.py import_portal_file --gstin GSTIN [--tenant SLUG] [--type ims|2b] [--period MMYYYY]
[--confirm-removals] FILE…``"""

from __future__ import annotations

from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from gst_sync.files import imports
from gst_sync.files.formats import PortalFileError, detect_kind, load_json
from tenancy.models import Registration
from tenancy.scoping import scopes_disabled, tenant_scope


class Command(BaseCommand):
    help = (
        "Import a portal file for a GSTIN: the IMS JSON download, or the GSTR-2B JSON (several files = the "
        "parts of one 2B period). Prints counts and totals; exits non-zero with the error on a bad file."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--gstin", required=True)
        parser.add_argument("--tenant", help="organisation slug (needed when several hold the GSTIN)")
        parser.add_argument(
            "--type", choices=["ims", "2b"], help="file type (default: detected from the file)"
        )
        parser.add_argument(
            "--period", default="", help="GSTR-2B only: the period (MMYYYY) the file must be for"
        )
        parser.add_argument(
            "--confirm-removals",
            action="store_true",
            help="IMS JSON: import even though stored documents missing from the file get marked vanished",
        )

    def handle(self, *args, files, gstin, tenant, type, period, confirm_removals, **options):
        registration = self._registration(gstin.strip().upper(), tenant)
        paths = [Path(p) for p in files]
        for path in paths:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        kind = type or self._detect(paths[0])
        actor = Actor.system("manage.py import_portal_file")
        handles = [path.open("rb") for path in paths]
        try:
            uploads = [File(h, name=path.name) for h, path in zip(handles, paths, strict=True)]
            with tenant_scope(registration.tenant_id):
                if kind == "2b":
                    result = imports.import_gstr2b_files(
                        tenant=registration.tenant,
                        actor=actor,
                        registration=registration,
                        files=uploads,
                        period=period,
                    )
                else:
                    result = imports.import_ims_files(
                        tenant=registration.tenant,
                        actor=actor,
                        registration=registration,
                        files=uploads,
                        confirm_removals=confirm_removals,
                    )
        except imports.RemovalsNeedConfirmation as exc:
            shown = "\n".join(f"  {d['section']} {d['supplier_gstin']} {d['number']}" for d in exc.documents)
            raise CommandError(
                "nothing was imported:\n"
                + "\n".join(exc.errors)
                + f"\n{shown}\nRun again with --confirm-removals."
            ) from None
        except PortalFileError as exc:
            raise CommandError("nothing was imported:\n" + "\n".join(exc.errors)) from None
        finally:
            for h in handles:
                h.close()
        self._print(result.as_dict())

    def _registration(self, gstin: str, slug: str | None) -> Registration:
        with scopes_disabled():
            regs = Registration.objects.filter(gstin=gstin).select_related("tenant")
            if slug:
                regs = regs.filter(tenant__slug=slug)
            found = list(regs[:2])
        if not found:
            raise CommandError(f"no registration {gstin}" + (f" in organisation {slug}" if slug else ""))
        if len(found) > 1:
            raise CommandError(f"{gstin} is registered in several organisations; give --tenant SLUG")
        return found[0]

    def _detect(self, path: Path) -> str:
        try:
            return detect_kind(load_json(path.name, path.read_bytes()))
        except PortalFileError as exc:
            raise CommandError("nothing was imported:\n" + "\n".join(exc.errors)) from None

    def _print(self, data: dict) -> None:
        out = self.stdout
        if data["type"] == "ims":
            out.write(f"IMS JSON into {data['gstin']}: {data['records']} records")
            out.write("  sections: " + ", ".join(f"{k} {v}" for k, v in data["sections"].items()))
            out.write("  actions: " + ", ".join(f"{k} {v}" for k, v in data["actions"].items()))
            out.write("  totals: " + ", ".join(f"{k} {v}" for k, v in data["totals"].items()))
            out.write(
                f"  created {data['created']}, changed {data['changed']}, unchanged {data['unchanged']}, "
                f"reappeared {data['reappeared']}, vanished {data['vanished']} (documents of "
                f"{', '.join(data['complete_sections'])} absent from the file; kept, marked vanished)"
            )
        else:
            out.write(
                f"GSTR-2B {data['period']} of {data['gstin']} (generated {data['generated_on'] or '?'}): "
                f"{data['documents']} documents, {data['rejected']} rejected, from {len(data['files'])} file(s)"
            )
            out.write("  sections: " + ", ".join(f"{k} {v}" for k, v in data["sections"].items()))
            for row in data["totals"]:
                out.write(
                    f"  {row['part']} {row['section']}{' ' + row['note_type'] if row['note_type'] else ''}: "
                    f"{row['count']} docs, taxable {row['taxable']}, igst {row['igst']}, cgst {row['cgst']}, "
                    f"sgst {row['sgst']}, cess {row['cess']}"
                )
            out.write(
                f"  IMS documents linked to this 2B: {data['matched_ims_documents']}; "
                f"period cleared on {data['cleared_ims_documents']}"
            )
            if data["not_stored"]:
                out.write("  not stored: " + ", ".join(f"{k} {v}" for k, v in data["not_stored"].items()))
            if not data["summary_matches"]:
                out.write(self.style.WARNING("  the portal's itcsumm differs from the sum of the documents"))
        self.stdout.write(self.style.SUCCESS("Imported."))
