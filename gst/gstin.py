"""GSTIN and PAN validation (docs/rules/gstin.md) with messages that say which check failed. Pure module: no ORM.

User input must pass every check. Documents from the portal are stored even when their GSTIN fails the
checksum (docs/rules/gstin.md §2: several GSTN fixtures do) and are flagged instead.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from stdnum import luhn

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)

# fmt: off
STATE_CODES: dict[str, str] = {
    "01": "Jammu and Kashmir", "02": "Himachal Pradesh", "03": "Punjab", "04": "Chandigarh",
    "05": "Uttarakhand", "06": "Haryana", "07": "Delhi", "08": "Rajasthan", "09": "Uttar Pradesh",
    "10": "Bihar", "11": "Sikkim", "12": "Arunachal Pradesh", "13": "Nagaland", "14": "Manipur",
    "15": "Mizoram", "16": "Tripura", "17": "Meghalaya", "18": "Assam", "19": "West Bengal",
    "20": "Jharkhand", "21": "Odisha", "22": "Chhattisgarh", "23": "Madhya Pradesh", "24": "Gujarat",
    "26": "Dadra and Nagar Haveli and Daman and Diu", "27": "Maharashtra", "29": "Karnataka", "30": "Goa",
    "31": "Lakshadweep", "32": "Kerala", "33": "Tamil Nadu", "34": "Puducherry",
    "35": "Andaman and Nicobar Islands", "36": "Telangana", "37": "Andhra Pradesh", "38": "Ladakh",
    "97": "Other Territory",
}
# Codes that are valid in history or as a place of supply but not for a new registration.
LEGACY_STATE_CODES: dict[str, str] = {
    "25": "Daman and Diu (before 26-01-2020)", "28": "Andhra Pradesh (old code)",
    "96": "Other Countries", "99": "Centre Jurisdiction",
}

PAN_HOLDER_TYPES: dict[str, str] = {
    "P": "Individual", "C": "Company", "H": "Hindu Undivided Family", "F": "Firm / LLP", "E": "LLP",
    "A": "Association of Persons", "T": "Trust", "B": "Body of Individuals", "L": "Local authority",
    "J": "Artificial juridical person", "G": "Government",
}
# fmt: on

_PAN_RE = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
_GSTIN_RE = re.compile(r"^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z][Z1-9ABD-J][0-9A-Z]$")


@dataclass(frozen=True)
class Validation:
    value: str
    errors: list[str] = field(default_factory=list)
    code: str = ""  # first failed check: length, format, state, pan, entity, default, checksum

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        return "; ".join(self.errors)

    @property
    def gstin(self) -> str:
        return self.value


def normalise(value: str) -> str:
    """Drop spaces, ``-`` and ``.``; upper-case ASCII letters only (``"ß".upper()`` would add a character)."""
    return re.sub(r"[\s\-.]", "", (value or "")).translate(_ASCII_UPPER)


def check_character(first14: str) -> str:
    """The mod-36 Luhn check character of a GSTIN's first 14 characters (docs/rules/gstin.md §3)."""
    return luhn.calc_check_digit(first14.upper(), ALPHABET)


def validate_pan(value: str) -> Validation:
    """5 letters, 4 digits, 1 letter (docs/rules/gstin.md §4); the message names the part that is wrong."""
    pan = normalise(value)
    if len(pan) != 10:
        return Validation(pan, [f"PAN must be 10 characters, got {len(pan)}"], "length")
    if not _PAN_RE.match(pan):
        if not pan[:5].isascii() or not pan[:5].isalpha():
            problem = "characters 1-5 must be letters"
        elif not pan[5:9].isascii() or not pan[5:9].isdigit():
            problem = "characters 6-9 must be digits"
        else:
            problem = "character 10 must be a letter"
        return Validation(pan, [f"PAN {problem} (5 letters, 4 digits, 1 letter, e.g. AAPFU0939F)"], "format")
    # The 4th character names the holder type; unknown letters occur (GSTN's own sandbox GSTINs use 'M'),
    # so it informs (pan_holder_type) but does not fail validation.
    return Validation(pan)


def pan_holder_type(pan: str) -> str:
    return PAN_HOLDER_TYPES.get(normalise(pan)[3:4], "Other")


def validate_gstin(value: str) -> Validation:
    """Every check of a GSTIN, stopping at the first that fails, with a message naming it."""
    g = normalise(value)
    if len(g) != 15:
        return Validation(g, [f"GSTIN must be 15 characters, got {len(g)}"], "length")
    bad = next((i for i, ch in enumerate(g) if ch not in ALPHABET), None)
    if bad is not None:
        return Validation(
            g,
            [f"GSTIN character {bad + 1} ({g[bad]!r}) is not allowed: use only letters A-Z and digits"],
            "format",
        )
    state = g[:2]
    if state not in STATE_CODES:
        hint = f" ({LEGACY_STATE_CODES[state]})" if state in LEGACY_STATE_CODES else ""
        return Validation(g, [f"GSTIN state code {state!r} is not a current state or UT code{hint}"], "state")
    pan = validate_pan(g[2:12])
    if not pan.valid:
        return Validation(g, [f"GSTIN characters 3-12 are not a valid PAN: {pan.message}"], "pan")
    if g[12] == "0":
        return Validation(g, ["GSTIN's 13th character (entity number) must be 1-9 or A-Z, not 0"], "entity")
    if not _GSTIN_RE.match(g):
        return Validation(g, [f"GSTIN's 14th character {g[13]!r} is not allowed (normally 'Z')"], "default")
    expected = check_character(g[:14])
    if g[14] != expected:
        return Validation(
            g,
            [f"GSTIN check character is {g[14]!r} but should be {expected!r}: a character is mistyped"],
            "checksum",
        )
    return Validation(g)


def is_valid_gstin(value: str) -> bool:
    return validate_gstin(value).valid


def pan_of(gstin: str) -> str:
    return normalise(gstin)[2:12]


def state_name(code: str) -> str:
    return STATE_CODES.get(code) or LEGACY_STATE_CODES.get(code) or "Unknown"


def make_gstin(state: str, pan: str, entity: str = "1") -> str:
    """Build a GSTIN with a correct check character (for generators and tests)."""
    first14 = f"{state}{pan}{entity}Z".upper()
    return first14 + check_character(first14)
