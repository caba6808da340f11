"""Webhook signing secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256).

Keys: ``IMS_WEBHOOK_SECRET_KEYS`` (comma-separated Fernet keys; the first seals, every one opens, so a key can be
rotated by putting the new key first and re-sealing with ``manage.py reseal_webhook_secrets``), else one key
derived from ``SECRET_KEY``."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _keys() -> list[bytes]:
    configured = settings.IMS_WEBHOOK_SECRET_KEYS or ""
    if isinstance(configured, str):
        configured = [k.strip() for k in configured.split(",") if k.strip()]
    if configured:
        return [k.encode() if isinstance(k, str) else k for k in configured]
    derived = hashlib.sha256((settings.SECRET_KEY + ":webhook-secrets").encode()).digest()
    return [base64.urlsafe_b64encode(derived)]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in _keys()])


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(blob: str) -> str:
    """The secret; ``ValueError`` when the blob was altered or no configured key opens it."""
    try:
        return _fernet().decrypt(blob.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "the webhook secret cannot be decrypted (wrong IMS_WEBHOOK_SECRET_KEYS or altered)"
        ) from exc


def reseal(blob: str) -> str:
    """The blob sealed again with the first key (after a key rotation)."""
    return _fernet().rotate(blob.encode()).decode()
