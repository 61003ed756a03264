"""Settings of the test suite: the production settings module, given test secrets.

Processes that tests start (workers, servers) use it too, through DJANGO_SETTINGS_MODULE.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "on")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("PORTAL_ENCRYPTION_KEYS", "dGVzdC1lbmNyeXB0aW9uLWtleS0wMDAwMDAwMDAwMDA=")
os.environ.setdefault("PORTAL_TOKEN_PEPPER", "test-token-pepper-0123456789")

from portal.settings import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, so that workers and servers the tests start can share it (their
    # DATABASE_URL names it); one per run, so that runs side by side do not collide.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"portal-test-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
