"""Settings, read once from the environment (django-environ).

Every variable is listed in the README. In production (DEBUG off) SECRET_KEY,
PORTAL_ENCRYPTION_KEYS and PORTAL_TOKEN_PEPPER must be set; a missing one stops start-up
with its name. Any of them may also be given as NAME_FILE, a path to a file holding it.
"""

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _read(name, default=None):
    """NAME from the environment, or the contents of the file named by NAME_FILE."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return os.environ.get(name, default)


DEBUG = env.bool("DEBUG", default=False)


def _required_secret(name, debug_default):
    value = _read(name)
    if value:
        return value
    if DEBUG:
        return debug_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")


SECRET_KEY = _required_secret("SECRET_KEY", "django-insecure-development-only-key-0123456789abcdef")


def _derived_key(purpose):
    digest = hashlib.sha256(f"{purpose}:{SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Fernet keys: the first encrypts, every one decrypts (rotate by putting a new key first,
# then running `manage.py reencrypt_secrets`).
PORTAL_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required_secret("PORTAL_ENCRYPTION_KEYS", _derived_key("encryption")).split(",")
    if k.strip()
]
# HMAC key for access tokens: the database holds only HMAC(pepper, secret).
PORTAL_TOKEN_PEPPER = _required_secret("PORTAL_TOKEN_PEPPER", _derived_key("token-pepper"))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "portal",
    "sandboxes",
    "templates_app",
]

MIDDLEWARE = [
    "portal.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "portal.access.AccessDecisionMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes share the file (web server, workers): readers must not wait for a
    # writer (WAL), and a writer takes its lock when its transaction begins, so two writers
    # queue instead of failing midway.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: five failures for one account from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The login form posts the email address in the field Django names "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a load balancer the client is found in X-Forwarded-For: lockouts and audit records
# use the same address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "portal.audit.client_ip"
AXES_VERBOSE = False

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("SECURE_PROXY_SSL", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No inline script or style anywhere: htmx is configured through a meta tag and serves
# its own indicator styles from our stylesheet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Background tasks: the database backend by default; `PORTAL_TASK_BACKEND=rq` moves them to
# Redis (REDIS_URL) with no code change.
PORTAL_TASK_BACKEND = env.str("PORTAL_TASK_BACKEND", default="db")
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
if PORTAL_TASK_BACKEND == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
elif PORTAL_TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    # A task follows a build to its end: the job timeout must outlast the build deadline.
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": env.int("RQ_JOB_TIMEOUT", default=2 * 3600)}}
elif PORTAL_TASK_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    raise ImproperlyConfigured("PORTAL_TASK_BACKEND must be one of db, rq, immediate")

# E2B: every SDK call is bounded by this many seconds.
E2B_REQUEST_TIMEOUT = env.float("E2B_REQUEST_TIMEOUT", default=10.0)
# Where `make run`'s local E2B backend listens; seed_demo points the demo organizations here.
E2B_LOCAL_URL = env.str("E2B_LOCAL_URL", default="http://127.0.0.1:3000")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Template builds: a build still running after this many minutes ends in error ("timed out");
# a worker polls E2B every TEMPLATE_BUILD_POLL_SECONDS, and a build whose worker has not
# written a heartbeat for TEMPLATE_BUILD_STALE_SECONDS is handed to another worker.
TEMPLATE_BUILD_DEADLINE_MINUTES = env.float("TEMPLATE_BUILD_DEADLINE_MINUTES", default=60)
TEMPLATE_BUILD_POLL_SECONDS = env.float("TEMPLATE_BUILD_POLL_SECONDS", default=1.0)
TEMPLATE_BUILD_STALE_SECONDS = env.float("TEMPLATE_BUILD_STALE_SECONDS", default=30.0)

# Sandboxes: the all-organizations page lists this many organizations at once, each
# bounded by its own timeout (seconds); the worker re-syncs sandbox records this often.
SANDBOX_FANOUT_CONCURRENCY = env.int("SANDBOX_FANOUT_CONCURRENCY", default=24)
SANDBOX_FANOUT_TIMEOUT = env.float("SANDBOX_FANOUT_TIMEOUT", default=5.0)
SANDBOX_SYNC_INTERVAL = env.int("SANDBOX_SYNC_INTERVAL", default=300)

# The E2B connection check (health, then the key) gives up after this many seconds.
E2B_CHECK_TIMEOUT = env.float("E2B_CHECK_TIMEOUT", default=10.0)
# ninja's own static files, so the API docs page loads nothing from a CDN.
INSTALLED_APPS += ["ninja"]
# The API's 405s in the API's error shape.
MIDDLEWARE += ["portal.api.ApiMethodNotAllowedMiddleware"]
