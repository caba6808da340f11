from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_chain
from tenancy.models import Tenant
from tenancy.scoping import tenant_scope


class Command(BaseCommand):
    help = (
        "Recompute every tenant's audit hash chain; report the first broken link of each and exit non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="verify only this tenant's ledger")

    def handle(self, *args, tenant=None, **options):
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        broken = []
        for t in tenants.iterator():
            with tenant_scope(t):
                report = verify_chain(tenant=t)
            if report.ok:
                self.stdout.write(f"{t.slug}: OK: {report.events} events")
            else:
                line = f"{t.slug}: BROKEN at seq {report.broken_seq}: {report.problem}"
                self.stderr.write(line)
                broken.append(line)
        if broken:
            raise CommandError(f"{len(broken)} broken chain(s): " + "; ".join(broken))
