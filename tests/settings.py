"""Settings of the test suite: the production settings module, given test secrets.

Processes that tests start (workers, servers) use it too, through DJANGO_SETTINGS_MODULE.
"""

import os

os.environ.setdefault("DEBUG", "on")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("PORTAL_ENCRYPTION_KEYS", "dGVzdC1lbmNyeXB0aW9uLWtleS0wMDAwMDAwMDAwMDA=")
os.environ.setdefault("PORTAL_TOKEN_PEPPER", "test-token-pepper-0123456789")

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
