"""Settings, configured only by environment variables (django-environ).

Production (docker-compose) sets DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=off.
A newcomer's ``make run`` sets none of them: PostgreSQL then comes from the embedded wheel (ims_project.devdb)
and Celery uses a filesystem broker under var/ instead of Redis.

Every environment variable read here is documented in .env.example (tests/ims_project/test_settings_documented.py).
Code elsewhere reads ``settings.X``: never the environment, never ``getattr(settings, "X", default)``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from ims_project import queues

# --- Paths and environment ------------------------------------------------------------------------------------

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# Read before .env, like scripts/run.py and ims_project.devdb do (they never see .env).
VAR_DIR = Path(env("IMS_VAR_DIR", default=str(BASE_DIR / "var")))
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

# --- Core -----------------------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
# The default key is for development only: its "django-insecure-" prefix makes `check --deploy` fail.
SECRET_KEY = env("SECRET_KEY", default="django-insecure-dev-only-key-change-me-0123456789abcdefghijklmnop")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Applications ---------------------------------------------------------------------------------------------
# Framework and infrastructure first, then the project's apps in layer order, lowest layer first (the import
# contract in pyproject.toml). gst (the GST rules) and ims_project are plain packages, not apps.

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "guardian",
    "axes",
    "django_htmx",
    "csp",
    "django_otp",  # two-factor sign-in (docs/access.md §3)
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # recovery codes
    "django_prometheus",  # request metrics on /metrics (ims_project/metrics.py)
    "audit",
    "tenancy",
    "notifications",  # in-app notifications (navbar badge)
    "exports",
    "trail",
    "invoices",
    "gst_sync",
    "returns",
    "actions",
    "approvals",  # maker-checker approvals of IMS actions
    "reconciliation",
    "suppliers",  # supplier directory, e-mails and webhooks to suppliers
    "autorules",  # auto-action rules
    "pipeline",
    "demo",  # demo tenant and data for `make run` (seed_demo); not a feature of the product
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: counts every request
    "ims_project.logcontext.RequestContextMiddleware",  # request id, tenant and user on every log line
    "ims_project.ops_http.OpsEndpointsMiddleware",  # /healthz, /readyz, /metrics: before host and TLS checks
    "django.middleware.security.SecurityMiddleware",
    "ims_project.middleware.RequestSizeLimitMiddleware",  # a body over MAX_REQUEST_BYTES: 413, unread
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): signed in with a second factor
    "ims_project.middleware.RejectNulMiddleware",  # a NUL in a query or form field: 400 naming the field
    "ims_project.middleware.NoStoreDataMiddleware",  # Cache-Control: no-store on logged-in pages and the API
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "tenancy.middleware.SignInMiddleware",  # the second factor asked for; the session list kept fresh
    "tenancy.middleware.TenantMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # last: requests by view, method and status
]

ROOT_URLCONF = "ims_project.urls"
WSGI_APPLICATION = "ims_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.tenancy",
                "trail.context_processors.audit",
                "notifications.context_processors.notifications",
            ],
        },
    },
]
# Django's form renderer with the commonest widgets written in Python: the same HTML, less CPU (docs/performance.md §3.11).
FORM_RENDERER = "ims_project.form_renderer.FormRenderer"

# --- Database -------------------------------------------------------------------------------------------------

if "DATABASE_URL" in os.environ:
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    from .devdb import embedded_database_url

    DATABASES = {"default": environ.Env.db_url_config(embedded_database_url())}
# PostgreSQL with the session's role and tenant kept for row-level security (docs/decisions/0012-row-level-security.md).
DATABASES["default"]["ENGINE"] = "ims_project.rls"
# Row-level security on every tenant table, the application's sessions running as IMS_RLS_ROLE (owner of nothing).
IMS_RLS = env.bool("IMS_RLS", default=True)
IMS_RLS_ROLE = env("IMS_RLS_ROLE", default="ims_app")
# The tables' owner, for migrate and restore_tenant only, when DATABASE_URL is a login that owns nothing and bypasses
# nothing (docs/decisions/0013-application-login-owns-nothing.md); unset: DATABASE_URL's user is the owner.
IMS_DATABASE_OWNER = env.db("DATABASE_OWNER_URL") if os.environ.get("DATABASE_OWNER_URL") else None
DATABASES["default"].setdefault("OPTIONS", {})
# JIT compilation makes this product's short analytic queries slower (docs/decisions/0006-jit-off.md): off for our sessions.
_pg_options = DATABASES["default"]["OPTIONS"].get("options", "")
if "jit" not in _pg_options:
    _pg_options = f"{_pg_options} -c jit=off".strip()
# Memory a session may give its temporary tables before they spill to temporary files. It is taken only as they grow,
# and only a reconciliation's tables grow large (about 450 MB at 1,000,000 × 1,000,000): with PostgreSQL's 8 MB every
# pass of the engine read and wrote them through the file system (docs/performance.md §3.4). A session can change it
# only before its first temporary table, hence at connect.
IMS_TEMP_BUFFERS = env("IMS_TEMP_BUFFERS", default="1GB")
if IMS_TEMP_BUFFERS and not re.fullmatch(r"[0-9]+(kB|MB|GB)?", IMS_TEMP_BUFFERS):
    raise ImproperlyConfigured(
        f"IMS_TEMP_BUFFERS must be a size such as 1GB or 512MB, not {IMS_TEMP_BUFFERS!r}"
    )
if "temp_buffers" not in _pg_options and IMS_TEMP_BUFFERS:
    _pg_options = f"{_pg_options} -c temp_buffers={IMS_TEMP_BUFFERS}".strip()
DATABASES["default"]["OPTIONS"]["options"] = _pg_options
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it: one the server dropped while idle (restart, failover,
# pg_terminate_backend) is replaced instead of failing the request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
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
# Two-factor sign-in (django-otp, docs/access.md §3): the name authenticator apps show, and the number of recovery
# codes a user gets.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="GST IMS")
IMS_RECOVERY_CODES = 10

# Failed-login throttling (django-axes, ims_project/client_limits.py): a username is locked at one client address
# after AXES_FAILURE_LIMIT failures there, and from every address after AXES_USERNAME_FAILURE_LIMIT failures from
# any addresses; failures with many usernames from one address lock nobody else out. The client address is
# REMOTE_ADDR, or the proxy's X-Forwarded-For entry when BEHIND_PROXY is on (see Security below).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_USERNAME_FAILURE_LIMIT = env.int("AXES_USERNAME_FAILURE_LIMIT", default=30)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "ims_project.client_limits.LoginLimitsHandler"
AXES_CLIENT_IP_CALLABLE = "ims_project.client_limits.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Password-reset e-mails: at most this many requests per client address, and per e-mail address asked for, in an
# hour (tenancy/auth_views.py); counted in the "limits" cache.
PASSWORD_RESET_LIMIT_PER_ADDRESS = env.int("PASSWORD_RESET_LIMIT_PER_ADDRESS", default=10)
PASSWORD_RESET_LIMIT_PER_ACCOUNT = env.int("PASSWORD_RESET_LIMIT_PER_ACCOUNT", default=3)

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

# --- Language and time ----------------------------------------------------------------------------------------

LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

# --- Static files, media and e-mail ---------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND", default="whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="IMS <ims@localhost>")
# Scheme and host of the site as users reach it: links in e-mails (ims_project.site.absolute_url).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

# --- Security -------------------------------------------------------------------------------------------------
# Production runs behind TLS: HTTPS=1 turns on the redirect, secure cookies and HSTS (each can be overridden on
# its own). BEHIND_PROXY=1 trusts the TLS-terminating proxy in front of gunicorn: X-Forwarded-Proto says whether the
# request came over HTTPS, and the right-most X-Forwarded-For entry (the address the proxy saw) is the client's
# address for login lock-outs and password-reset limits. Off, both headers are ignored (a client could forge them).

HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp): scripts, styles, fonts and connections from this site only; no inline script
# or event handler (pages ask for behaviour with data attributes, static/js/app.js), no eval. Inline style
# attributes are allowed (style-src-attr), <style> elements are not. Images may also be data: URLs (Bootstrap's
# form icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Permissions-Policy (django-permissions-policy): browser features the product never uses are off for it and for
# anything it could embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "interest-cohort",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# --- API ------------------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.api.ApiTokenAuthentication",  # per member and tenant, scoped, expiring, hashed (docs/access.md)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "tenancy.api.IsTenantMember",  # /api/v1/t/<slug>/: members only (and a token of that tenant), 404 otherwise
        "tenancy.api.HasTokenScope",  # a token needs the scope the view declares for the method, 403 otherwise
    ],
    "DEFAULT_THROTTLE_CLASSES": ["tenancy.api.ApiTokenRateThrottle"],  # API_TOKEN_RATE per token
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON nested too deep, non-finite or over-long numbers and NUL characters: 400 naming where (issue #13).
    "DEFAULT_PARSER_CLASSES": [
        "ims_project.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
}
# API tokens (docs/access.md §1): how long a new token lasts unless its maker says otherwise, the longest allowed,
# and the requests one token may make (DRF rate: "600/min", "10000/day"; empty: no limit), counted in the cache
# named here (one every web process shares).
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
API_TOKEN_RATE = env("API_TOKEN_RATE", default="600/min")
API_TOKEN_THROTTLE_CACHE = "limits"  # noqa: S105  # nosec B105  # the name of a cache (CACHES), not a secret
SPECTACULAR_SETTINGS = {
    "TITLE": "IMS API",
    "DESCRIPTION": "GST Invoice Management System: supplier documents, actions and reconciliation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ImsActionEnum": "gst.sections.ACTION_CHOICES",
        "ImsSectionEnum": "gst.sections.SECTION_CHOICES",
        "ActionCodeEnum": [("A", "A"), ("R", "R"), ("P", "P"), ("N", "N")],
        "SyncRunStatusEnum": "gst_sync.models.RunStatus",  # a sync run's and its job's state
    },
}

# --- Celery ---------------------------------------------------------------------------------------------------
# Redis when REDIS_URL is set, otherwise a filesystem broker under var/ (no extra service needed).

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
    # One Redis list per priority step, served lowest step first (ims_project/queues.py). Among the queues a worker
    # consumes, round robin: with "priority" (queues in the order of -Q) a worker on every queue left the exports,
    # pushes, rebuilds and syncs waiting until the last bulk action was done (tests/faults/job_faults.py).
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        priority_steps=queues.PRIORITY_STEPS, queue_order_strategy="round_robin"
    )
else:
    _broker_dir = VAR_DIR / "celery-broker"
    from ims_project import fsbroker

    CELERY_BROKER_URL = fsbroker.register()  # kombu's filesystem broker, each message written whole first
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _sub in ("processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# The broker away (docs/reliability.md R5-R7, proven by tests/faults/job_faults.py): a worker keeps trying to reach
# it for as long as it is away (Celery's default gives up after 100 tries, about 45 minutes, and the worker exits),
# at start-up too. A task running while the connection is lost finishes: its acknowledgement is lost with the
# connection, so the broker delivers it again later, and the job's lease makes that delivery a no-op
# (docs/decisions/0007); cancelling it instead would throw away work the lease already protects.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_DEFAULT_PRIORITY = (
    queues.NORMAL
)  # queues per kind of job, priorities, fairness: ims_project/queues.py
CELERY_IMPORTS = ["ims_project.tasks"]  # project-level tasks (ping); app tasks are autodiscovered
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule")
)
CELERY_BEAT_SCHEDULE = {
    "daily-portal-sync": {"task": "gst_sync.tasks.daily_sync", "schedule": crontab(hour=5, minute=30)},
    # Syncs, pushes, reconciliation runs and register imports whose worker died (lease expired) are handed to a
    # worker again.
    "sweep-stale-syncs": {"task": "gst_sync.tasks.sweep_stale_runs", "schedule": 300.0},
    "sweep-stale-pushes": {"task": "gst_sync.tasks.sweep_stale_pushes", "schedule": 300.0},
    "sweep-stale-recon-jobs": {"task": "reconciliation.tasks.sweep_stale_jobs", "schedule": 300.0},
    # Bulk-action runs, exports and 2B rebuilds on the same lease (docs/decisions/0007-shared-lease-helper.md).
    "sweep-stale-bulk-actions": {"task": "actions.sweep_stale_runs", "schedule": 300.0},
    "sweep-stale-exports": {"task": "exports.sweep_stale_jobs", "schedule": 300.0},
    "sweep-stale-rebuilds": {"task": "returns.sweep_stale_rebuilds", "schedule": 300.0},
    "rebuild-twob-previews": {"task": "returns.rebuild_previews", "schedule": crontab(hour=6, minute=15)},
    "deadline-digest": {"task": "returns.deadline_digest", "schedule": crontab(hour=7, minute=30)},
    # Suppliers' GSTR-3B filings from the portal's return tracking, for Rule 37A (every tenant).
    "supplier-gstr3b-filings": {
        "task": "returns.refresh_supplier_filings",
        "schedule": crontab(hour=4, minute=45),
    },
    # Beat's heartbeat: the readiness checks report the age of its last tick (ims_project/health.py).
    "beat-tick": {"task": "ims.beat_tick", "schedule": float(env.int("IMS_BEAT_TICK_SECONDS", default=60))},
}

# --- Caches ---------------------------------------------------------------------------------------------------
# "default": per-process memory (cached figures that are cheap to rebuild). "limits": request counters that every
# web process must share (password-reset limits, API token rates): Redis when REDIS_URL is set, else per-process
# memory (`make run` is one process).

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "limits": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ims-limits",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "limits"}
    ),
}

# --- Logging --------------------------------------------------------------------------------------------------

# LOG_FORMAT=json (docker-compose): one JSON object a line (python-json-logger) with the request id, tenant and user
# of the request or Celery task the line belongs to (ims_project/logcontext.py); text otherwise (`make run`).
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "ims_project.logcontext.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(tenant)s %(user_id)s %(task)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601 in UTC
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# A JSON-logging worker keeps this configuration instead of Celery's own text handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# --- Operations (docs/operations.md) -------------------------------------------------------------------------
# Readiness reports beat as stale when its last tick is older than this; the worker serves /healthz, /readyz and
# /metrics on IMS_WORKER_HTTP_PORT (0: not at all).
IMS_BEAT_STALE_SECONDS = env.int("IMS_BEAT_STALE_SECONDS", default=300)
IMS_WORKER_HTTP_PORT = env.int("IMS_WORKER_HTTP_PORT", default=0)
# How much the Celery worker lowers its CPU priority at start (its pool processes inherit it; 0: not at all): on a host
# the web shares with the worker, a reconciliation or a sync yields the cores to the pages people wait for
# (docs/performance.md §3.11). Lowering is unprivileged; the database's own backends keep their priority.
IMS_WORKER_NICE = env.int("IMS_WORKER_NICE", default=10)
IMS_WORKER_HTTP_HOST = env("IMS_WORKER_HTTP_HOST", default="127.0.0.1")
# A folder each process of a container writes its metrics to (prometheus_client's multiprocess mode: gunicorn's
# workers, Celery's pool); read by prometheus_client itself too. Empty: each process reports its own.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")

# --- Exports and uploads --------------------------------------------------------------------------------------

EXPORT_DIR = Path(env("EXPORT_DIR", default=str(VAR_DIR / "exports")))
# Lists at or below this many rows export synchronously as a streamed download; larger ones go to a worker.
EXPORT_SYNC_MAX_ROWS = env.int("EXPORT_SYNC_MAX_ROWS", default=20000)
# Largest portal-file upload (IMS / GSTR-2B JSON or zip; the files of one upload together), in bytes.
IMS_PORTAL_FILE_MAX_BYTES = env.int("IMS_PORTAL_FILE_MAX_BYTES", default=50 * 1024 * 1024)
# Largest purchase-register upload (bytes, as uploaded) and the most data rows it may hold.
RECON_REGISTER_MAX_BYTES = env.int("RECON_REGISTER_MAX_BYTES", default=50 * 1024 * 1024)
RECON_REGISTER_MAX_ROWS = env.int("RECON_REGISTER_MAX_ROWS", default=1_000_000)
# Request bodies (docs/limits.md): a request declaring a larger body than MAX_REQUEST_BYTES is refused with 413 before
# any of it is read (ims_project.middleware.RequestSizeLimitMiddleware; gunicorn's limit_request_* cap the request
# line and headers). Bodies other than files are read into memory up to DATA_UPLOAD_MAX_MEMORY_SIZE (400 above);
# uploaded files above FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file, never past MAX_REQUEST_BYTES.
MAX_REQUEST_BYTES = env.int(
    "MAX_REQUEST_BYTES", default=max(IMS_PORTAL_FILE_MAX_BYTES, RECON_REGISTER_MAX_BYTES) + 1024 * 1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=10_000)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

# --- GST portal (GSP) -----------------------------------------------------------------------------------------
# Defaults point at the sandbox portal that `make run` starts on 127.0.0.1:8765.

IMS_GSP_BASE_URL = env("IMS_GSP_BASE_URL", default="http://127.0.0.1:8765")
IMS_GSP_CLIENT_ID = env("IMS_GSP_CLIENT_ID", default="sandbox-client")
IMS_GSP_CLIENT_SECRET = env("IMS_GSP_CLIENT_SECRET", default="sandbox-secret")
IMS_GSP_GSTN_CERT_PATH = env("IMS_GSP_GSTN_CERT_PATH", default="")
# The GSP is the sandbox portal (it publishes its certificate); always true for a loopback IMS_GSP_BASE_URL.
IMS_GSP_SANDBOX = env.bool("IMS_GSP_SANDBOX", default=False)
# Fernet key sealing portal sessions at rest; derived from SECRET_KEY unless set explicitly.
IMS_SESSION_KEY = (
    env("IMS_SESSION_KEY", default="")
    or base64.urlsafe_b64encode(hashlib.sha256((SECRET_KEY + ":portal-sessions").encode()).digest()).decode()
)
# A running sync whose heartbeat is older than this is taken to be dead (worker killed) and may be re-claimed.
IMS_SYNC_LEASE_SECONDS = env.int("IMS_SYNC_LEASE_SECONDS", default=900)
# A GSTIN whose last sync downloaded at most this many documents in all its sections (or that was never synced) is
# "small": a sync of several of its sections is one task under one lease (gst_sync.models.SyncJob); should it turn
# out larger, the sections not yet done go on as tasks of their own. 0 = every section its own task.
IMS_SYNC_SMALL_DOCUMENTS = env.int("IMS_SYNC_SMALL_DOCUMENTS", default=2000)
# A sync's "saving x of y documents" moves after every this many new documents written (invoices.services.ingest).
IMS_SAVE_PROGRESS_EVERY = env.int("IMS_SAVE_PROGRESS_EVERY", default=5000)
# Records per SAVE / RESETIMS request (a GSP caps a request at 4 MB — UNVERIFIED for GSTN; ~500 records is far below).
IMS_PUSH_BATCH_SIZE = env.int("IMS_PUSH_BATCH_SIZE", default=500)
# Portal calls per second (and the burst allowed after a quiet spell) per GSTIN and per GSP credential (client id),
# shared by every worker through Redis (gst_sync/limits.py; 0 = no limit). Without REDIS_URL there is no shared
# limit: `make run` is one worker. The portal's own "too many requests" (HTTP 429) pauses the GSTIN or credential
# for its Retry-After (at least IMS_PORTAL_429_PAUSE seconds) on every worker.
IMS_PORTAL_GSTIN_RATE = env.float("IMS_PORTAL_GSTIN_RATE", default=5.0)
IMS_PORTAL_GSTIN_BURST = env.int("IMS_PORTAL_GSTIN_BURST", default=10)
IMS_PORTAL_CLIENT_RATE = env.float("IMS_PORTAL_CLIENT_RATE", default=100.0)
IMS_PORTAL_CLIENT_BURST = env.int("IMS_PORTAL_CLIENT_BURST", default=200)
IMS_PORTAL_429_PAUSE = env.float("IMS_PORTAL_429_PAUSE", default=1.0)
IMS_PORTAL_LIMIT_PREFIX = "ims:portal-limit"  # Redis keys of those limits (tests use their own)
# A CA firm's client batch (sync all → reconcile all → recommended actions) looks for GSTINs to move on this often.
IMS_BATCH_TICK_SECONDS = env.float("IMS_BATCH_TICK_SECONDS", default=5.0)

# --- IMS actions ----------------------------------------------------------------------------------------------
# Up to IMS_BULK_ACTION_SYNC_MAX documents are applied in the request, in one transaction; a larger bulk action is
# queued for a worker, which applies it in chunks of IMS_BULK_ACTION_CHUNK documents (one transaction each).

IMS_BULK_ACTION_SYNC_MAX = env.int("IMS_BULK_ACTION_SYNC_MAX", default=20_000)
IMS_BULK_ACTION_CHUNK = env.int("IMS_BULK_ACTION_CHUNK", default=50_000)

# --- Supplier webhooks ----------------------------------------------------------------------------------------
# Private/loopback targets only for on-premise setups; secrets sealed with these Fernet keys (comma-separated, the
# first encrypts; derived from SECRET_KEY when empty). A delivery is failed for good after IMS_WEBHOOK_MAX_ATTEMPTS
# attempts.

IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = env.bool("IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK", default=False)
IMS_WEBHOOK_SECRET_KEYS = env("IMS_WEBHOOK_SECRET_KEYS", default="")
IMS_WEBHOOK_MAX_ATTEMPTS = env.int("IMS_WEBHOOK_MAX_ATTEMPTS", default=5)
