"""Settings: everything from the environment, safe defaults, loud failures.

With no configuration at all the platform runs on the embedded default: SQLite (WAL)
under ``./var``, files under ``./var/storage``, huey jobs in ``./var/huey.db``, mail
printed to the console. ``COURSEWRIGHT_VAR_DIR`` moves the whole state directory.
A malformed value stops start-up with a message naming the variable; nothing is guessed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    if value is None:
        file_path = os.environ.get(f"{name}_FILE")
        if file_path:
            try:
                return Path(file_path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_path}: {exc}") from exc
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ImproperlyConfigured(f"{name} must be at least {minimum}{upper}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


VAR_DIR = Path(env_str("COURSEWRIGHT_VAR_DIR", "var")).resolve()
STORAGE_DIR = VAR_DIR / "storage"


def _ensure_var_dir() -> None:
    try:
        STORAGE_DIR.mkdir(parents=True, exist_ok=True)
        (VAR_DIR / "static").mkdir(exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"COURSEWRIGHT_VAR_DIR: cannot create {VAR_DIR}: {exc.strerror}"
        ) from exc


_ensure_var_dir()


def _secret_key() -> str:
    explicit = env_str("COURSEWRIGHT_SECRET_KEY", "")
    if explicit:
        if len(explicit) < 50:
            raise ImproperlyConfigured("COURSEWRIGHT_SECRET_KEY must be at least 50 characters")
        return explicit
    # Embedded default: a random key made once and kept in the state directory (0600),
    # so sessions survive restarts and no two installs share a key.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("COURSEWRIGHT_DEBUG", False)
HTTPS = env_bool("COURSEWRIGHT_HTTPS", False)
BASE_URL = env_str("COURSEWRIGHT_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("COURSEWRIGHT_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("COURSEWRIGHT_CSRF_TRUSTED_ORIGINS", [BASE_URL])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "huey.contrib.djhuey",
    "coursewright.accounts",
    "coursewright.orgs",
    "coursewright.audit",
    "coursewright.privacy",
    "coursewright.ingest",
    "coursewright.ai",
    "coursewright.courses",
    "coursewright.publishing",
    "coursewright.assist",
    "coursewright.delivery",
    "coursewright.tracking",
    "coursewright.cmi5",
    "coursewright.embed",
    "coursewright.webhooks",
    "coursewright.lti",
    "coursewright.web",
    "coursewright.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "coursewright.audit.middleware.ApiCallAuditMiddleware",
    "coursewright.web.middleware.RequestSizeLimitMiddleware",
    "coursewright.web.api_input.NulTextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "coursewright.web.middleware.SecurityHeadersMiddleware",
    "coursewright.web.api_errors.ApiErrorShapeMiddleware",
]

ROOT_URLCONF = "coursewright.urls"
WSGI_APPLICATION = "coursewright.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coursewright.web.context.navigation",
            ],
        },
    },
]


# Database connections are kept open between requests (per server thread) for this many
# seconds: opening one costs more than a Gatekeeper launch (SQLite: open, four PRAGMAs and,
# on the last close, a WAL checkpoint; PostgreSQL: a new backend process).
CONN_MAX_AGE = env_int("COURSEWRIGHT_DB_CONN_MAX_AGE", 60, maximum=86400)


def _databases() -> dict[str, dict[str, Any]]:
    url = env_str("DATABASE_URL", "")
    if url:
        import dj_database_url

        if not url.startswith(("postgres://", "postgresql://", "sqlite://")):
            raise ImproperlyConfigured(
                "DATABASE_URL must be a postgres:// (or sqlite://) URL, got "
                f"{url.split(':', 1)[0]}://..."
            )
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE))
        if config["ENGINE"].endswith("postgresql"):
            config.setdefault("OPTIONS", {})
            config["CONN_HEALTH_CHECKS"] = True
            if env_bool("COURSEWRIGHT_DB_PREPARED", False):
                # Server-side parameters, and statements run five times prepared: saves
                # PostgreSQL planning the same statements again (~0.7 ms of a launch's
                # ~2.2 ms of database CPU). Not behind a transaction-mode pooler that
                # does not track prepared statements (PgBouncer before 1.21).
                config["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
        return {"default": config}
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "coursewright.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while the job consumer writes; IMMEDIATE
                # transactions take the write lock up front so writers queue instead of
                # failing with "database is locked" half-way through.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "CONN_MAX_AGE": CONN_MAX_AGE,
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"

# Cookies: HttpOnly sessions, SameSite=Lax, Secure whenever served over HTTPS.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
SESSION_COOKIE_AGE = env_int("COURSEWRIGHT_SESSION_HOURS", 12, minimum=1, maximum=720) * 3600
CSRF_COOKIE_SECURE = HTTPS
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = HTTPS and env_bool("COURSEWRIGHT_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("COURSEWRIGHT_HSTS_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("COURSEWRIGHT_HSTS_PRELOAD", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Residency: a storage location per region (default: <storage>/<region>/).
REGION_STORAGE_DIRS = {
    region: Path(value).resolve()
    for region in ("eu", "uk", "us")
    if (value := env_str(f"COURSEWRIGHT_STORAGE_DIR_{region.upper()}", ""))
}


# Object storage: a region with a bucket keeps its files in that bucket on any
# S3-compatible service; a region without one stays on local disk. Credentials come from
# the standard AWS environment variables / boto3 chain (never from here).
def _s3_bucket(region: str) -> str:
    import re

    name = f"COURSEWRIGHT_S3_BUCKET_{region.upper()}"
    bucket = env_str(name, "").strip()
    if bucket and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ImproperlyConfigured(f"{name} must be an S3 bucket name (3-63 characters: "
                                   f"a-z, 0-9, '.', '-'), got {bucket!r}")
    return bucket


def _s3_endpoint() -> str | None:
    import re

    url = env_str("COURSEWRIGHT_S3_ENDPOINT_URL", "").strip()
    if url and not re.fullmatch(r"https?://[^\s/?#]+/?", url):
        raise ImproperlyConfigured("COURSEWRIGHT_S3_ENDPOINT_URL must be an http(s):// "
                                   f"address with no path, got {url!r}")
    return url.rstrip("/") or None


REGION_S3_BUCKETS = {region: bucket for region in ("eu", "uk", "us")
                     if (bucket := _s3_bucket(region))}
S3_ENDPOINT_URL = _s3_endpoint()
S3_REGION_NAME = env_str("COURSEWRIGHT_S3_REGION_NAME", "").strip() or None
# How long a signed course-file URL works (a presigned S3 URL may last at most 7 days).
CONTENT_URL_TTL = env_int("COURSEWRIGHT_CONTENT_URL_TTL", 600, minimum=1, maximum=604800)

# Embed tokens (coursewright.embed): the issuer they name, an access token's lifetime
# when the partner asks for none (at most 3 hours), a refresh token's, and the longest a
# refresh family (one embedded session) lives however often it is refreshed.
EMBED_ISSUER = env_str("COURSEWRIGHT_EMBED_ISSUER", BASE_URL).rstrip("/")
EMBED_TOKEN_TTL = env_int("COURSEWRIGHT_EMBED_TOKEN_TTL", 3600, minimum=60, maximum=10800)
EMBED_REFRESH_TTL = env_int("COURSEWRIGHT_EMBED_REFRESH_TTL", 86400, minimum=300,
                            maximum=30 * 86400)
EMBED_SESSION_HOURS = env_int("COURSEWRIGHT_EMBED_SESSION_HOURS", 168, minimum=1,
                              maximum=8760)

# Outbound requests to customer-given URLs (statement forwarding, webhooks) reach public
# addresses only (coursewright.netguard), unless the operator allows private ones.
OUTBOUND_ALLOW_PRIVATE = env_bool("COURSEWRIGHT_OUTBOUND_ALLOW_PRIVATE", False)
OUTBOUND_CA_FILE = env_str("COURSEWRIGHT_OUTBOUND_CA_FILE", "").strip()
# Statement forwarding (tracking.forwarding) sends a statement once it has been stored
# this many seconds, so writes still in flight are not overtaken.
XAPI_FORWARD_SETTLE_SECONDS = env_int("COURSEWRIGHT_XAPI_FORWARD_SETTLE", 10, minimum=0,
                                      maximum=3600)
# Seconds a partner's webhook endpoint may take to answer one delivery (webhooks.delivery).
WEBHOOK_TIMEOUT_SECONDS = env_int("COURSEWRIGHT_WEBHOOK_TIMEOUT", 10, minimum=1, maximum=60)

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": STORAGE_DIR},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("COURSEWRIGHT_MANIFEST_STATIC", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# Uploads: the limits that protect the server (also enforced inside ingest).
MAX_UPLOAD_MB = env_int("COURSEWRIGHT_MAX_UPLOAD_MB", 50, minimum=1, maximum=2048)
MAX_DOCUMENT_PAGES = env_int("COURSEWRIGHT_MAX_PAGES", 1000, minimum=1, maximum=100000)
MAX_IMAGE_MB = env_int("COURSEWRIGHT_MAX_IMAGE_MB", 10, minimum=1, maximum=100)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Uploads stay in memory (within the upload limit) and are never spooled to a temporary
# file, so no plaintext copy of a document lands on disk; larger requests get a 413 from
# web.middleware.RequestSizeLimitMiddleware before they are read.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = (MAX_UPLOAD_MB + 1) * 1024 * 1024
MAX_REQUEST_BYTES = (MAX_UPLOAD_MB + 2) * 1024 * 1024
# Flash messages travel in a signed cookie, never in the session table.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
BACKUP_KEEP_DAYS = env_int("COURSEWRIGHT_BACKUP_KEEP_DAYS", 14, minimum=1, maximum=3650)
TARGET_SCREENS = env_int("COURSEWRIGHT_TARGET_SCREENS", 25, minimum=3, maximum=200)

# AI providers: one TOML file names every provider an operator offers (see
# docs/ai-providers.md); the offline engine is always there. Organisations choose among
# them in their AI policy.
AI_PROVIDERS_FILE = env_str("COURSEWRIGHT_AI_PROVIDERS_FILE", str(VAR_DIR / "ai-providers.toml"))
AI_TIMEOUT_SECONDS = env_int("COURSEWRIGHT_AI_TIMEOUT", 60, minimum=1, maximum=600)
# Circuit breaker: this many failures in a row open a provider for the cool-down.
AI_BREAKER_FAILURES = env_int("COURSEWRIGHT_AI_BREAKER_FAILURES", 3, minimum=1, maximum=100)
AI_BREAKER_COOLDOWN = env_int("COURSEWRIGHT_AI_BREAKER_COOLDOWN", 60, minimum=1, maximum=3600)
# A running generation job whose worker has not reported for this long is requeued.
AI_JOB_STALE_SECONDS = env_int("COURSEWRIGHT_AI_JOB_STALE", 300, minimum=10, maximum=86400)

# Login throttling: failures per (account, client address) within the window.
LOGIN_MAX_FAILURES = env_int("COURSEWRIGHT_LOGIN_MAX_FAILURES", 5, minimum=1, maximum=1000)
LOGIN_WINDOW_SECONDS = env_int("COURSEWRIGHT_LOGIN_WINDOW_SECONDS", 900, minimum=10)

EMAIL_BACKEND = env_str(
    "COURSEWRIGHT_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env_str("COURSEWRIGHT_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("COURSEWRIGHT_EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("COURSEWRIGHT_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("COURSEWRIGHT_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("COURSEWRIGHT_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("COURSEWRIGHT_FROM_EMAIL", "coursewright <noreply@localhost>")

# Jobs: huey on SQLite in the state directory by default, Redis when configured.
_REDIS_URL = env_str("COURSEWRIGHT_REDIS_URL", "")
HUEY: dict[str, Any]
if _REDIS_URL:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "coursewright", "url": _REDIS_URL}
else:
    HUEY = {"huey_class": "huey.SqliteHuey", "name": "coursewright",
            "filename": str(VAR_DIR / "huey.sqlite3")}
REDIS_URL = _REDIS_URL  # also the shared counter of the API rate limit, when set
# Requests per minute each org API key may make (coursewright.ratelimit_api); 0: no limit.
API_RATE_PER_MINUTE = env_int("COURSEWRIGHT_API_RATE_PER_MINUTE", 600, minimum=0)
HUEY["immediate"] = env_bool("COURSEWRIGHT_JOBS_INLINE", False)
HUEY["consumer"] = {"workers": env_int("COURSEWRIGHT_JOB_WORKERS", 2, minimum=1, maximum=64),
                    "worker_type": "thread"}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("COURSEWRIGHT_LOG_LEVEL", "INFO")},
    "loggers": {"huey": {"level": "WARNING"}},
}
