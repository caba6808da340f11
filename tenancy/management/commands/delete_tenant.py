"""``manage.py delete_tenant SLUG --confirm NAME --confirm NAME``: delete an organisation's data, confirmed twice
with its name (docs/operations.md §6). Its audit ledger stays and records the deletion."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from tenancy import services
from tenancy.errors import TenancyError
from tenancy.models import Tenant
from tenancy.scoping import tenant_scope


class Command(BaseCommand):
    help = (
        "Delete all of an organisation's data (its audit ledger stays). Give --confirm with the organisation's "
        "exact name twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--confirm",
            action="append",
            default=[],
            metavar="NAME",
            help="the organisation's name; give it twice",
        )

    def handle(self, *args, slug, confirm, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        if len(confirm) != 2 or confirm[0] != confirm[1]:
            raise CommandError(
                f"Nothing deleted: confirm twice with the organisation's name: --confirm {tenant.name!r} "
                f"--confirm {tenant.name!r}"
            )
        with tenant_scope(tenant):
            try:
                deleted = services.delete_tenant(
                    tenant=tenant, actor=Actor.system("manage.py delete_tenant"), confirm_name=confirm[0]
                )
            except TenancyError as exc:
                raise CommandError(f"Nothing deleted: {exc.message}") from exc
        self.stdout.write(f"{tenant.slug}: deleted {sum(deleted.values()):,} rows; the audit ledger is kept.")
        for table, n in deleted.items():
            if n:
                self.stdout.write(f"  {table:40s} {n:>12,}")
