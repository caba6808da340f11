"""A portal file's limits (issue #13 §1) hold when they are checked from the text first (load_json walks the whole
file only when the text shows an escaped NUL or the containers nest too deep): the same files load, the same are
refused, with the same place named. Pure: no database."""

import json
from decimal import Decimal

import pytest

from gst_sync.files.formats import PortalFileError, load_json


def nested(levels: int, inner: str = "1") -> bytes:
    """``levels`` lists one inside another around ``inner``, under the key b2b (one level more)."""
    return ('{"b2b": ' + "[" * (levels - 1) + inner + "]" * (levels - 1) + "}").encode()


def test_values_64_levels_deep_load_and_65_are_refused_naming_the_place():
    assert load_json("ims.json", nested(64))["b2b"] == json.loads(nested(64))["b2b"]
    with pytest.raises(PortalFileError) as refused:
        load_json("ims.json", nested(65))
    assert refused.value.errors == [f"ims.json: b2b{'[0]' * 64}: nested deeper than 64 levels"]


def test_an_empty_list_at_the_deepest_level_holds_no_value_too_deep():
    assert load_json("ims.json", nested(65, inner=""))["b2b"] == json.loads(nested(65, inner=""))["b2b"]


@pytest.mark.parametrize(
    ("content", "place"),
    [
        (b'{"b2b": [{"stin": "27AB"}, {"inum": "A\\u0000B"}]}', "b2b[1].inum"),
        (b'{"b2b": [{"st\\u0000in": "27AB"}]}', "b2b[0].st\\x00in"),
    ],
    ids=["value", "key"],
)
def test_a_nul_in_a_value_or_a_key_is_refused_naming_the_place(content, place):
    with pytest.raises(PortalFileError) as refused:
        load_json("ims.json", content)
    assert refused.value.errors == [f"ims.json: {place}: Null characters are not allowed."]


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul():
    records = load_json("ims.json", b'{"b2b": [{"remarks": "C:\\\\u0000", "val": 1.5}]}')["b2b"]
    assert records == [{"remarks": "C:\\u0000", "val": Decimal("1.5")}]
