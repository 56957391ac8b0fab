"""Encryption at rest for secrets stored in the database (provider keys, tool credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, wrapped in MultiFernet so that keys can
rotate: the first key in FIELD_ENCRYPTION_KEY encrypts, every listed key decrypts, and
`manage.py rotate_field_keys` re-encrypts stored values under the first key.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

TOKEN_PREFIX = "enc1:"  # noqa: S105  (marks ciphertext in the column, not a secret)


def _fernet_for(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        # Not a Fernet key: derive one, so operators may use any long random passphrase.
        digest = hashlib.sha256(key.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must name at least one key")
    return MultiFernet([_fernet_for(key) for key in keys])


def _current() -> MultiFernet:
    return _multi_fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(plain: str) -> str:
    return TOKEN_PREFIX + _current().encrypt(plain.encode()).decode()


def decrypt_str(stored: str) -> str:
    if not stored.startswith(TOKEN_PREFIX):
        raise ValueError("value is not encrypted with this scheme")
    try:
        return _current().decrypt(stored[len(TOKEN_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        # Never include the ciphertext or key material in the message.
        raise ImproperlyConfigured(
            "An encrypted field could not be decrypted with any FIELD_ENCRYPTION_KEY."
        ) from exc


def rotate_str(stored: str) -> str:
    """Re-encrypt `stored` under the first (current) key."""
    return TOKEN_PREFIX + _current().rotate(stored[len(TOKEN_PREFIX) :].encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column stored as Fernet ciphertext; Python code sees plain text.

    Not searchable or orderable by value (ciphertext is randomised). Use for secrets only.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))


def encrypted_fields() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every installed model with encrypted fields, and those fields."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found
