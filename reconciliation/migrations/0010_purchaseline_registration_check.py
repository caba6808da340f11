"""The purchase register's lines check their GSTIN once per statement, not by two row-by-row foreign keys
(docs/decisions/0011-documents-layout.md, which did the same for the documents; issue #12: a 200,000-row import).

A row-by-row foreign key is checked at commit, one query and one row lock per row and key: two per line to the
tenant and to the registration, 400,000 checks at the commit of a 200,000-row import. A statement-level trigger
reads the statement's new lines once, locks their registrations against deletion until commit (``FOR KEY SHARE``,
as a foreign key's check does) and refuses a line whose (registration, tenant) no registration has, so a line's
tenant is its GSTIN's by constraint. A registration that lines name cannot be deleted, nor its id or tenant changed.
Django still knows both relations (``db_constraint=False``) and emulates PROTECT on deletes through the ORM.
"""

import django.db.models.deletion
from django.db import migrations, models

from tenancy.registration_check import Names, backward, forward

NAMES = Names(
    table="reconciliation_purchaseline",
    function="recon_line",
    trigger="line",
    keeps="registration_keeps_lines",
    keeps_function="recon_registration_keeps_lines",
    new_rows="new_lines",
    alias="p",
    noun="lines",
    rows="register lines",
)
FORWARD, BACKWARD = forward(NAMES), backward(NAMES)


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0009_registration_counts"),
        ("tenancy", "0005_tenant_deleted_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="purchaseline",
            name="registration",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.registration",
            ),
        ),
        migrations.AlterField(
            model_name="purchaseline",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.RunSQL(FORWARD, reverse_sql=BACKWARD),
    ]
