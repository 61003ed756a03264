"""Encryption of stored secrets with Fernet under the key list in settings.

The first key of PORTAL_ENCRYPTION_KEYS encrypts; every key decrypts, so keys rotate by
putting a new one first and running `manage.py reencrypt_secrets`.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _fernet():
    keys = settings.PORTAL_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("PORTAL_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "PORTAL_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each)"
        ) from None


def encrypt(plaintext):
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with PORTAL_ENCRYPTION_KEYS: "
            "the key that encrypted it is missing from the list"
        ) from None


def rotate(ciphertext):
    """The same secret, encrypted under the first key."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with PORTAL_ENCRYPTION_KEYS"
        ) from None


def generate_key():
    return Fernet.generate_key().decode()
