"""Portal error codes sorted into what the caller does about them (docs/rules/portal-api.md §5)."""

from __future__ import annotations

import random

import pytest

from gst_sync.client import errors


@pytest.mark.parametrize(
    ("code", "http_status", "expected"),
    [
        ("AUTH4033", 200, errors.Reauth),
        ("AUTH4038", 401, errors.Reauth),
        ("RT-R1R3BAV-1007", 200, errors.Reauth),
        ("RETOTPREQUEST", 200, errors.OtpRequired),
        ("RET13508", 200, errors.NoData),
        ("RET2B1016", 200, errors.NoData),
        ("RTN_24", 200, errors.Transient),
        ("", 503, errors.Transient),
        ("", 429, errors.Transient),
        ("", 401, errors.Reauth),
        ("IMSSAV0010", 200, errors.Permanent),
        ("RET2B1023", 200, errors.TwoBNotGenerated),
        ("SOMETHING_NEW", 200, errors.Permanent),
        ("", 400, errors.Permanent),
    ],
)
def test_codes_map_to_the_right_kind_of_error(code, http_status, expected):
    error = errors.classify(code, "portal text", http_status=http_status)
    assert type(error) is expected
    assert error.message


def test_known_codes_get_a_message_a_user_can_act_on():
    assert "download again" in errors.classify("IMSSAV0010").message
    assert "certificate" in errors.classify("TEC4002").message


def test_backoff_is_bounded_growing_and_jittered():
    policy = errors.RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=5.0)
    runs = [list(policy.delays(random.Random(seed))) for seed in range(20)]
    assert all(len(run) == 5 for run in runs)
    assert all(0 <= d <= min(5.0, 2**n) for run in runs for n, d in enumerate(run))
    assert len({run[3] for run in runs}) > 1  # jitter: not the same wait every time


def test_polling_is_bounded_and_capped():
    delays = list(errors.PollPolicy(max_polls=8, first_delay=2, factor=3, max_delay=60).delays())
    assert len(delays) == 8
    assert delays[0] == 2
    assert max(delays) == 60
