"""GSTN taxpayer-API cryptography (docs/rules/portal-api.md §6). Pure module: no ORM, no I/O, no Django.

Both the real client (``gst_sync.client.gstn``) and the sandbox portal (``tools.sandbox_portal``) use these
functions, so the two sides can never drift apart. Every value that crosses the wire is base64 text.

Keys and who encrypts what:

* ``app_key`` — 32 random bytes made by the client (:func:`generate_app_key`). Sent RSA-encrypted with the GSTN
  public certificate (PKCS#1 v1.5) on OTPREQUEST/AUTHTOKEN (:func:`rsa_encrypt`), AES-encrypted with the session
  key on REFRESHTOKEN.
* ``otp`` — AES-256-ECB with the app key.
* ``sek`` (session key) — returned by AUTHTOKEN/REFRESHTOKEN, AES-encrypted with the app key (:func:`decrypt_sek`).
* ``rek`` (response key) — one per GET response, AES-encrypted with the sek (:func:`decrypt_rek`).
* response ``data`` — AES(rek, base64(JSON)); ``hmac`` = base64 HMAC-SHA256 over the *decrypted* base64(JSON)
  bytes keyed by the rek (:func:`open_response` / :func:`seal_response`).
* request body (PUT/POST) — see :func:`seal_request`: ``data`` = AES(sek, base64(JSON)), ``hmac`` =
  base64 HMAC-SHA256 over base64(JSON) keyed by the sek. docs/rules/portal-api.md §6 records this as what open-source
  clients do and asks to confirm it with the GSTN developer portal: it lives in this one function pair only.
* large files (FILEDET) — ``ek`` is the base64 AES key of the files; each file is a ``.tar.gz`` whose single
  member holds AES(ek, base64(JSON)) as base64 text; ``hash`` is the SHA-256 hex of the downloaded file bytes
  (:func:`open_file` / :func:`seal_file`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import tarfile
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

APP_KEY_BYTES = 32
# A FILEDET part is refused above this many bytes, compressed or not (decompression-bomb guard).
MAX_FILE_BYTES = 256 * 1024 * 1024


class CryptoError(ValueError):
    """A payload could not be decrypted, or its HMAC / hash does not match."""


# --- keys -------------------------------------------------------------------------------------------------


def generate_app_key() -> bytes:
    """A fresh random 32-byte AES-256 key."""
    return os.urandom(APP_KEY_BYTES)


def load_public_key(pem: bytes | str) -> RSAPublicKey:
    """The RSA public key from a PEM X.509 certificate or a PEM public key."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        if b"BEGIN CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise CryptoError(f"not a PEM certificate or public key: {exc}") from exc
    if not isinstance(key, RSAPublicKey):
        raise CryptoError("the GSTN certificate must hold an RSA public key")
    return key


def rsa_encrypt(public_pem: bytes | str, data: bytes) -> str:
    """RSA PKCS#1 v1.5 encryption with the GSTN public certificate/key; base64 out."""
    return b64(load_public_key(public_pem).encrypt(data, asym_padding.PKCS1v15()))


def rsa_decrypt(private_key: RSAPrivateKey, data_b64: str) -> bytes:
    """The portal side of :func:`rsa_encrypt` (used by the sandbox)."""
    try:
        return private_key.decrypt(unb64(data_b64), asym_padding.PKCS1v15())
    except ValueError as exc:
        raise CryptoError("RSA decryption failed") from exc


# --- AES-256-ECB, PKCS7 -----------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise CryptoError("invalid base64") from exc


def aes_encrypt(key: bytes, plaintext: bytes) -> str:
    """AES-256-ECB with PKCS7 padding; base64 ciphertext out."""
    _check_key(key)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305  # nosec B305  # the GSTN API mandates AES-256-ECB (docs/rules/portal-api.md)
    return b64(encryptor.update(padded) + encryptor.finalize())


def aes_decrypt(key: bytes, ciphertext_b64: str | bytes) -> bytes:
    """Inverse of :func:`aes_encrypt`; raises :class:`CryptoError` on a wrong key or damaged text."""
    _check_key(key)
    raw = unb64(ciphertext_b64)
    if not raw or len(raw) % 16:
        raise CryptoError("ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305  # nosec B305  # the GSTN API mandates AES-256-ECB (docs/rules/portal-api.md)
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise CryptoError("bad padding: wrong key or damaged ciphertext") from exc


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != APP_KEY_BYTES:
        raise CryptoError("AES-256 keys are 32 bytes")


# --- HMAC -------------------------------------------------------------------------------------------------


def hmac_b64(key: bytes, data: bytes) -> str:
    """Base64 HMAC-SHA256 of ``data`` keyed by ``key``."""
    return b64(hmac.new(key, data, hashlib.sha256).digest())


def verify_hmac(key: bytes, data: bytes, mac_b64: str) -> None:
    """Raise :class:`CryptoError` unless ``mac_b64`` is the HMAC of ``data`` (constant-time compare)."""
    if not isinstance(mac_b64, str) or not hmac.compare_digest(hmac_b64(key, data), mac_b64):
        raise CryptoError("HMAC mismatch: the payload was altered or the key is wrong")


# --- session keys -----------------------------------------------------------------------------------------


def encrypt_otp(otp: str, app_key: bytes) -> str:
    return aes_encrypt(app_key, otp.encode())


def decrypt_sek(sek_b64: str, app_key: bytes) -> bytes:
    """The session key from AUTHTOKEN/REFRESHTOKEN, decrypted with the app key."""
    return aes_decrypt(app_key, sek_b64)


def decrypt_rek(rek_b64: str, sek: bytes) -> bytes:
    """A response key, decrypted with the session key."""
    return aes_decrypt(sek, rek_b64)


def decrypt_data(data_b64: str, rek: bytes) -> bytes:
    """Response ``data`` decrypted with the rek: the base64(JSON) bytes the HMAC is computed over."""
    return aes_decrypt(rek, data_b64)


def _json_default(value: Any) -> Any:
    """Decimals go on the wire as JSON numbers, as the portal expects. ``float`` here is only the JSON text
    form: Python writes the shortest repr that round-trips, which is the decimal's own digits for up to 15
    significant digits (the portal's Decimal(15,2)); longer values are refused rather than rounded."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        if len(value.as_tuple().digits) > 15:
            raise CryptoError(f"amount {value} has more than 15 significant digits")
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def loads(text: str | bytes) -> Any:
    """JSON with non-integral numbers as ``Decimal`` (money never becomes float)."""
    return json.loads(text, parse_float=Decimal)


def _json_b64(payload: Any) -> bytes:
    return base64.b64encode(dumps(payload).encode())


def _json_from_b64(data: bytes) -> Any:
    try:
        return loads(unb64(data).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CryptoError("decrypted data is not base64 JSON") from exc


# --- whole responses, requests and files ------------------------------------------------------------------


def seal_response(payload: Any, sek: bytes) -> dict[str, str]:
    """Portal side: ``{"rek", "data", "hmac"}`` for a JSON payload (a fresh rek per response)."""
    rek = generate_app_key()
    plain = _json_b64(payload)
    return {"rek": aes_encrypt(sek, rek), "data": aes_encrypt(rek, plain), "hmac": hmac_b64(rek, plain)}


def open_response(envelope: dict[str, Any], sek: bytes) -> Any:
    """Client side: decrypt rek with the sek, data with the rek, check the HMAC, return the JSON."""
    rek = decrypt_rek(envelope["rek"], sek)
    plain = decrypt_data(envelope["data"], rek)
    if "hmac" not in envelope:
        raise CryptoError("response carries no HMAC")
    verify_hmac(rek, plain, envelope["hmac"])
    return _json_from_b64(plain)


def seal_request(payload: Any, sek: bytes) -> dict[str, str]:
    """THE request-body scheme for PUT/POST (client side).

    ``data`` = base64(AES-256-ECB(sek, base64(JSON))) and ``hmac`` = base64(HMAC-SHA256(key=sek,
    msg=base64(JSON))). The caller adds ``action`` next to them. The sandbox opens it with :func:`open_request`.
    """
    plain = _json_b64(payload)
    return {"data": aes_encrypt(sek, plain), "hmac": hmac_b64(sek, plain)}


def open_request(body: dict[str, Any], sek: bytes) -> Any:
    """Portal side of :func:`seal_request`: decrypt, check the HMAC, return the JSON payload."""
    plain = aes_decrypt(sek, body["data"])
    verify_hmac(sek, plain, body.get("hmac", ""))
    return _json_from_b64(plain)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seal_file(payload: Any, ek: bytes, name: str = "data.json") -> bytes:
    """Portal side of a FILEDET part: a tar.gz holding AES(ek, base64(JSON)) as base64 text."""
    content = aes_encrypt(ek, _json_b64(payload)).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def open_file(raw: bytes, ek: bytes, expected_sha256: str) -> Any:
    """Client side: check the SHA-256 of the downloaded bytes, unpack the tar.gz, decrypt with ek, parse JSON."""
    if len(raw) > MAX_FILE_BYTES:
        raise CryptoError("file part is larger than allowed")
    actual = sha256_hex(raw)
    if not hmac.compare_digest(actual, (expected_sha256 or "").lower()):
        raise CryptoError(f"file SHA-256 mismatch (expected {expected_sha256}, got {actual})")
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            if len(members) != 1 or members[0].size > MAX_FILE_BYTES:
                raise CryptoError("file part must hold exactly one reasonably sized member")
            extracted = tar.extractfile(members[0])
            content = extracted.read(MAX_FILE_BYTES + 1) if extracted else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CryptoError(f"file part is not a valid tar.gz: {exc}") from exc
    return _json_from_b64(aes_decrypt(ek, content.strip()))
