"""gst_sync.client.crypto against vectors computed here with the cryptography primitives directly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import tarfile
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

from gst_sync.client import crypto
from gst_sync.client.base import PortalSession, SessionKeyMissing, open_session, seal_session, utcnow

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def ecb_encrypt(key: bytes, plaintext: bytes) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def test_app_key_is_32_random_bytes():
    a, b = crypto.generate_app_key(), crypto.generate_app_key()
    assert len(a) == 32
    assert len(b) == 32
    assert a != b


def test_aes_ecb_matches_an_independent_vector():
    # FIPS-197 appendix C.3 block, encrypted with AES-256, then a full PKCS7 padding block follows.
    plaintext = bytes.fromhex("00112233445566778899aabbccddeeff")
    ciphertext = base64.b64decode(crypto.aes_encrypt(KEY, plaintext))
    assert ciphertext[:16].hex() == "8ea2b7ca516745bfeafc49904b496089"
    assert crypto.aes_encrypt(KEY, b"575757") == ecb_encrypt(KEY, b"575757")
    assert crypto.aes_decrypt(KEY, ecb_encrypt(KEY, b"hello gstn")) == b"hello gstn"


def test_aes_decrypt_with_the_wrong_key_is_refused():
    with pytest.raises(crypto.CryptoError):
        crypto.aes_decrypt(OTHER_KEY, crypto.aes_encrypt(KEY, b"x" * 40))


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rsa_encrypts_app_key_for_certificate_and_for_bare_public_key(rsa_key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    pub_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for pem in (cert_pem, pub_pem.decode()):
        blob = base64.b64decode(crypto.rsa_encrypt(pem, KEY))
        assert rsa_key.decrypt(blob, asym_padding.PKCS1v15()) == KEY


def test_non_pem_certificate_is_refused():
    with pytest.raises(crypto.CryptoError):
        crypto.rsa_encrypt(b"not a certificate", KEY)


def test_sek_rek_and_response_data_decrypt_in_chain():
    sek, rek = KEY, OTHER_KEY
    payload = {"b2b": [{"inum": "INV/1", "val": "118000.50"}]}
    plain = base64.b64encode(json.dumps(payload).encode())
    envelope = {
        "rek": ecb_encrypt(sek, rek),
        "data": ecb_encrypt(rek, plain),
        "hmac": base64.b64encode(hmac.new(rek, plain, hashlib.sha256).digest()).decode(),
    }
    app_key = bytes(32)
    assert crypto.decrypt_sek(ecb_encrypt(app_key, sek), app_key) == sek
    assert crypto.decrypt_rek(envelope["rek"], sek) == rek
    assert crypto.decrypt_data(envelope["data"], rek) == plain
    assert crypto.open_response(envelope, sek) == payload


def test_a_flipped_response_hmac_is_refused():
    envelope = crypto.seal_response({"reference_id": "R1"}, KEY)
    mac = bytearray(base64.b64decode(envelope["hmac"]))
    mac[0] ^= 1
    envelope["hmac"] = base64.b64encode(bytes(mac)).decode()
    with pytest.raises(crypto.CryptoError, match="HMAC"):
        crypto.open_response(envelope, KEY)


def test_response_without_hmac_is_refused():
    envelope = crypto.seal_response({"a": 1}, KEY)
    del envelope["hmac"]
    with pytest.raises(crypto.CryptoError):
        crypto.open_response(envelope, KEY)


def test_request_body_scheme_is_aes_of_base64_json_with_hmac_keyed_by_sek():
    payload = {"rtin": "27AAICZ1234Q1ZQ", "reqtyp": "SAVE"}
    body = crypto.seal_request(payload, KEY)
    plain = crypto.aes_decrypt(KEY, body["data"])
    assert json.loads(base64.b64decode(plain)) == payload
    assert body["hmac"] == base64.b64encode(hmac.new(KEY, plain, hashlib.sha256).digest()).decode()
    assert crypto.open_request(body, KEY) == payload
    tampered = dict(body, data=crypto.aes_encrypt(KEY, base64.b64encode(b'{"rtin":"X"}')))
    with pytest.raises(crypto.CryptoError, match="HMAC"):
        crypto.open_request(tampered, KEY)


def test_decimal_amounts_travel_as_exact_json_numbers():
    text = crypto.dumps({"val": Decimal("1234567890123.45"), "iamt": Decimal("900.00")})
    assert text == '{"val":1234567890123.45,"iamt":900}'
    assert crypto.loads(text)["val"] == Decimal("1234567890123.45")
    with pytest.raises(crypto.CryptoError):
        crypto.dumps({"val": Decimal("12345678901234.567")})


def make_file(ek: bytes, payload: dict) -> bytes:
    content = ecb_encrypt(ek, base64.b64encode(json.dumps(payload).encode())).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("part1.json")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def test_large_file_part_opens_when_its_sha256_matches():
    raw = make_file(KEY, {"b2b": [{"inum": "A-1"}]})
    assert crypto.open_file(raw, KEY, hashlib.sha256(raw).hexdigest()) == {"b2b": [{"inum": "A-1"}]}
    sealed = crypto.seal_file({"b2b": []}, KEY)
    assert crypto.open_file(sealed, KEY, crypto.sha256_hex(sealed)) == {"b2b": []}


def test_large_file_part_with_wrong_hash_is_refused():
    raw = make_file(KEY, {"b2b": []})
    damaged = raw[:-1] + bytes([raw[-1] ^ 0xFF])
    with pytest.raises(crypto.CryptoError, match="SHA-256"):
        crypto.open_file(damaged, KEY, hashlib.sha256(raw).hexdigest())


def session() -> PortalSession:
    return PortalSession(
        gstin="27AAICZ1234Q1ZQ",
        username="u",
        auth_token="tok-123",
        sek=KEY,
        app_key=OTHER_KEY,
        expires_at=utcnow(),
    )


def test_session_blob_round_trips_and_is_unreadable_without_the_key(monkeypatch):
    key = Fernet.generate_key()
    monkeypatch.setenv("IMS_SESSION_KEY", key.decode())
    blob = seal_session(session())
    assert "tok-123" not in blob
    assert base64.b64encode(KEY).decode() not in blob
    restored = open_session(blob)
    assert (restored.auth_token, restored.sek, restored.app_key) == ("tok-123", KEY, OTHER_KEY)
    with pytest.raises(ValueError, match="cannot be decrypted"):
        open_session(blob, key=Fernet.generate_key())


def test_session_sealing_needs_a_configured_key(monkeypatch, settings):
    monkeypatch.delenv("IMS_SESSION_KEY", raising=False)
    settings.IMS_SESSION_KEY = ""
    with pytest.raises(SessionKeyMissing):
        seal_session(session())
