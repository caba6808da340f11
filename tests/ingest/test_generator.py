"""The realistic GETINV generator: deterministic by seed, every section, valid GSTINs, correct tax split."""

from decimal import Decimal

from gst.gstin import is_valid_gstin
from gst.ims_record import parse_record
from gst.numbers import is_valid_doc_number
from tools.generator import generate

RECIPIENT = "27AAICZ1234Q1ZQ"
PERIODS = ["082025", "092025", "102025"]


def make(seed=1, n=3000):
    return generate(seed=seed, recipient_gstin=RECIPIENT, periods=PERIODS, n_docs=n, n_suppliers=60)


def test_same_seed_gives_the_same_records_and_another_seed_does_not():
    assert make(seed=5).records == make(seed=5).records
    assert make(seed=5).records != make(seed=6).records


def test_every_section_appears_in_realistic_proportions():
    data = make()
    counts = {s: len(r) for s, r in data.records.items()}
    assert data.count == 3000
    assert all(counts[s] > 0 for s in ("b2b", "b2ba", "b2bcn", "b2bcna", "b2bdn", "b2bdna", "ecom", "ecoma"))
    assert counts["b2b"] > 0.7 * 3000
    assert counts["b2bcn"] > counts["b2bcna"]


def test_every_record_parses_and_suppliers_have_valid_gstins_and_names():
    data = make()
    for section, records in data.records.items():
        for i, rec in enumerate(records, 1):
            parse_record(section, rec, index=i)
    suppliers = {rec["stin"] for records in data.records.values() for rec in records}
    assert all(is_valid_gstin(g) for g in suppliers)
    assert suppliers <= set(data.supplier_names)
    assert len({g[:2] for g in suppliers}) > 3


def test_tax_is_split_by_place_of_supply():
    for rec in make().records["b2b"]:
        intra = rec["stin"][:2] == rec["pos"] and rec["inv_typ"] == "R"
        if intra:
            assert rec["camt"] == rec["samt"]
            assert rec["iamt"] == Decimal("0.00")
        else:
            assert rec["camt"] == rec["samt"] == Decimal("0.00")
        rate = (rec["iamt"] + rec["camt"] + rec["samt"]) * 100 / rec["txval"]
        if rec["inv_typ"] != "SEZWOP":
            assert min(abs(rate - r) for r in (5, 12, 18, 28)) < Decimal("0.1")


def test_amendments_point_to_generated_originals():
    data = make()
    originals = {(r["stin"], r["inum"], r["idt"]) for r in data.records["b2b"]}
    notes = {(r["stin"], r["nt_num"], r["nt_dt"]) for r in data.records["b2bcn"]}
    assert all((r["stin"], r["oinum"], r["oidt"]) in originals for r in data.records["b2ba"])
    assert all((r["stin"], r["ont_num"], r["ont_dt"]) in notes for r in data.records["b2bcna"])


def test_credit_notes_before_october_2025_block_pending_and_later_ones_do_not():
    data = make()
    for rec in data.records["b2bcn"]:
        before = rec["rtnprd"] in ("082025", "092025")
        assert rec["ispendactblocked"] == ("Y" if before else "N")
        if before:
            assert rec["action"] != "P"
    assert {r["action"] for r in data.records["b2b"]} == {"A", "R", "P", "N"}
    assert {r["srcfilstatus"] for r in data.records["b2b"]} == {"Filed", "Not Filed"}


def test_every_document_number_is_one_the_portal_accepts():
    data = make()
    numbers = [rec.get("inum") or rec.get("nt_num") for records in data.records.values() for rec in records]
    assert numbers
    assert [n for n in numbers if not is_valid_doc_number(n)] == []
