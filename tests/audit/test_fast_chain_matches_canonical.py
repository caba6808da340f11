"""The ledger writer assembles each event's canonical text by hand for speed; the verifier rebuilds it with
audit.chain. Both must agree byte for byte for any content, or verification would report false breaks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.chain import GENESIS_HASH, canonical, event_fields, link_hash
from audit.services import Actor, Event, _rows, record_many
from audit.verify import verify_chain
from tenancy.scoping import tenant_scope

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    text,
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
events = st.builds(
    Event,
    action=text,
    object_type=text,
    object_id=text,
    object_repr=text,
    changes=st.dictionaries(text, values, max_size=4),
    metadata=st.dictionaries(text, values, max_size=4),
)


@given(st.lists(events, min_size=1, max_size=5), text, st.one_of(st.none(), st.integers(1, 10**9)), text)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_hand_built_canonical_text_hashes_like_the_verifier(evs, label, actor_id, request_id):
    actor = Actor("user", label, actor_id)
    produced = list(_rows(7, actor, evs, request_id, 41, GENESIS_HASH))
    prev = GENESIS_HASH
    for n, (ev, (_line, h)) in enumerate(zip(evs, produced, strict=True), start=42):
        occurred = dt.datetime.fromisoformat(_line.split("\t")[2])
        from audit.chain import normalise_json

        fields = event_fields(
            tenant_id=7,
            seq=n,
            occurred_at=occurred,
            actor_type="user",
            actor_id=actor_id,
            actor_label=label,
            action=ev.action,
            object_type=ev.object_type,
            object_id=str(ev.object_id),
            object_repr=ev.object_repr[:200],
            changes=normalise_json(ev.changes),
            metadata=normalise_json(ev.metadata),
            request_id=request_id,
        )
        assert h == link_hash(prev, fields), canonical(fields)
        prev = h


@pytest.mark.django_db
def test_events_with_awkward_text_round_trip_through_the_database_and_verify(tenant_a):
    awkward = 'tab\there\nnew line \\ back\\slash "quote" ₹1,23,456.00 \u0007'
    with transaction.atomic():
        record_many(
            tenant=tenant_a,
            actor=Actor("user", "a\tb\\c", 5),
            events=[
                Event(
                    "x.y",
                    "t",
                    awkward,
                    awkward,
                    {awkward: [Decimal("1.10"), dt.date(2025, 10, 5)]},
                    {"n": 1, "f": 0.5, "l": [1, "2", None]},
                )
            ],
            request_id=awkward,
        )
    with tenant_scope(tenant_a):
        report = verify_chain(tenant=tenant_a)
    assert report.ok, report
    assert report.events >= 2


@given(st.lists(events, min_size=1, max_size=5), st.integers(0, 2))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_pre_encoded_changes_and_metadata_hash_like_the_verifier(evs, shared):
    """A bulk change encodes a shared ``changes`` / ``metadata`` once (audit.services.canonical_json): the events
    must hash exactly as if each had been given as a dict."""
    from dataclasses import replace

    from audit.chain import normalise_json
    from audit.services import canonical_json

    pre = [
        replace(
            ev,
            changes=canonical_json(ev.changes) if shared != 1 else ev.changes,
            metadata=canonical_json(ev.metadata) if shared != 2 else ev.metadata,
        )
        for ev in evs
    ]
    actor = Actor("user", "preparer", 9)
    produced = list(_rows(3, actor, pre, "req", 0, GENESIS_HASH))
    prev = GENESIS_HASH
    for n, (ev, (line, h)) in enumerate(zip(evs, produced, strict=True), start=1):
        fields = event_fields(
            tenant_id=3,
            seq=n,
            occurred_at=dt.datetime.fromisoformat(line.split("\t")[2]),
            actor_type="user",
            actor_id=9,
            actor_label="preparer",
            action=ev.action,
            object_type=ev.object_type,
            object_id=str(ev.object_id),
            object_repr=ev.object_repr[:200],
            changes=normalise_json(ev.changes),
            metadata=normalise_json(ev.metadata),
            request_id="req",
        )
        assert h == link_hash(prev, fields), canonical(fields)
        prev = h
