"""Django settings, read from environment variables (see README's configuration table).

Defaults run locally; with DJANGO_DEBUG=0 the service refuses to start without
a real DJANGO_SECRET_KEY and a JWT key.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.env import env_bool, env_host_ports, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
_DEV_JWT_SECRET = "dev-insecure-jwt-secret-change-me"

SECRET_KEY = env_str("DJANGO_SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
JWT_SECRET = env_str("JWT_SECRET") or (_DEV_JWT_SECRET if DEBUG and not env_str("JWT_PUBLIC_KEY") else "")
JWT_PUBLIC_KEY = env_str("JWT_PUBLIC_KEY").replace("\\n", "\n")
# Algorithms are fixed here, never taken from a token's header.
JWT_ALGORITHMS = ["RS256"] if JWT_PUBLIC_KEY else ["HS256"]
JWT_AUDIENCE = env_str("JWT_AUDIENCE") or None
JWT_ISSUER = env_str("JWT_ISSUER") or None

if not DEBUG:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")
    # Django's own bar for a strong key (security.W009): refused here rather than warned about.
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be at least 50 characters with at least 5 different ones when DJANGO_DEBUG=0"
        )
    if not (JWT_PUBLIC_KEY or JWT_SECRET) or JWT_SECRET == _DEV_JWT_SECRET:
        raise ImproperlyConfigured("JWT_SECRET or JWT_PUBLIC_KEY must be set when DJANGO_DEBUG=0")
    if JWT_SECRET and len(JWT_SECRET) < 32:
        raise ImproperlyConfigured("JWT_SECRET must be at least 32 characters when DJANGO_DEBUG=0")

# Bearer token Prometheus sends to /metrics outside DEBUG (unset: /metrics answers 404).
METRICS_TOKEN = env_str("METRICS_TOKEN")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CSRF_TRUSTED_ORIGINS = [o for o in CORS_ALLOWED_ORIGINS if o.startswith(("http://", "https://"))]
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
# Threads per web process running HTTP requests (config/http.py); sockets stay on the event loop.
WEB_THREADS = env_int("WEB_THREADS", 16, minimum=1, maximum=256)

INSTALLED_APPS = [
    # Before the admin, so its admin/base_site.html (the language switcher) overrides Django's.
    "mongoadmin.apps.MongoAdminConfig",
    "mongoadmin.apps.AdminSiteConfig",  # django.contrib.admin whose site also lists MongoDB documents
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us: no CDN script without integrity
    "axes",
    "channels",
    "conversation",
    "topics",
    "sessions_app",
    "matchmaking",
    "ops",
    "practice",
    "moderation",
]

# The Page* middleware (conversation.middleware) serve the browser pages (admin, practice page, API docs)
# and step aside on the JSON API and the probes (/api/v1/, /health/, /metrics); security headers, the
# request id, the language and the CSP stay on every response (docs/ARCHITECTURE.md, "HTTP middleware").
MIDDLEWARE = [
    "conversation.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, practice page) from the same process: uvicorn serves none itself (WhiteNoise).
    "conversation.middleware.PageStaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the response: the language cookie (set by /i18n/setlang/), else Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "conversation.middleware.SlashOnPagesMiddleware",  # Django's CommonMiddleware, no slash appended on the API
    "django.middleware.csrf.CsrfViewMiddleware",  # cheap on the API: its views are csrf_exempt
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "conversation.middleware.PageMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "conversation.middleware.CSPMiddleware",  # django-csp's, the site policy built once
    "conversation.middleware.StoreUnavailableMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# Admin logins: django-axes locks a username from an IP after AXES_FAILURE_LIMIT failures; staff unlock it
# in the admin (Access attempts) or with `manage.py axes_reset`, else it lifts after the cool-off.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]


def _database_from_url(url: str) -> dict:
    """SQL database for Django's own tables (auth, admin log, sessions)."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parsed.path) or ":memory:"}
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.path.lstrip("/"),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": parsed.port or "",
            "CONN_MAX_AGE": 60,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported (sqlite, postgres)")


DATABASES = {"default": _database_from_url(env_str("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MONGODB_URI = env_str("MONGODB_URI", "mongodb://127.0.0.1:27017/conversation")
MONGODB_TIMEOUT_MS = env_int("MONGODB_TIMEOUT_MS", 1000, minimum=100)
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must be a redis:// URL, got {REDIS_URL!r}")
if not MONGODB_URI.startswith(("mongodb://", "mongodb+srv://")):
    raise ImproperlyConfigured("MONGODB_URI must be a mongodb:// URL")

# High availability (docs/OPERATIONS.md): with sentinels, every Redis user asks them for the primary;
# REDIS_URL then only gives the database number and the password.
REDIS_SENTINELS = env_host_ports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "mymaster")
if not re.fullmatch(r"[A-Za-z0-9._-]+", REDIS_SENTINEL_MASTER):
    raise ImproperlyConfigured(f"REDIS_SENTINEL_MASTER must be a name ([A-Za-z0-9._-]), got {REDIS_SENTINEL_MASTER!r}")
_redis_url = urlparse(REDIS_URL)
try:
    REDIS_DB = int(_redis_url.path.strip("/") or 0) if _redis_url.scheme != "unix" else 0
except ValueError:
    raise ImproperlyConfigured(f"REDIS_URL must end with a database number, got {REDIS_URL!r}") from None
REDIS_PASSWORD = unquote(_redis_url.password) if _redis_url.password else None
# Short timeouts towards the sentinels: a dead one is skipped for the next, not waited on.
REDIS_SENTINEL_KWARGS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}


def _celery_redis_url() -> str:
    """Celery's broker and result backend: the primary itself, or kombu's `sentinel://` list."""
    if not REDIS_SENTINELS:
        return REDIS_URL
    auth = f":{_redis_url.password}@" if _redis_url.password else ""
    netlocs = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in REDIS_SENTINELS)
    return ";".join(f"sentinel://{auth}{netloc}/{REDIS_DB}" for netloc in netlocs)


# One immediate retry on a fresh connection: pooled connections Redis dropped in a restart
# fail once each otherwise (a 503 per stale connection after Redis is back). Under Sentinel the
# fresh connection asks the sentinels again, so the retry also lands on a newly promoted primary.
_CACHE_OPTIONS = {
    "SOCKET_CONNECT_TIMEOUT": 2,
    "SOCKET_TIMEOUT": 2,
    "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 1)},
}
if REDIS_SENTINELS:
    _CACHE_OPTIONS |= {
        "CLIENT_CLASS": "django_redis.client.SentinelClient",
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        "SENTINELS": REDIS_SENTINELS,
        "SENTINEL_KWARGS": REDIS_SENTINEL_KWARGS,
        "PASSWORD": REDIS_PASSWORD,
    }
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # With sentinels the host part names the monitored primary, not a machine.
        "LOCATION": f"redis://{REDIS_SENTINEL_MASTER}/{REDIS_DB}" if REDIS_SENTINELS else REDIS_URL,
        "KEY_PREFIX": "cache",
        "TIMEOUT": 300,
        "OPTIONS": _CACHE_OPTIONS,
    }
}

# channels-redis blocks 5 s in BZPOPMIN; redis-py 8 defaults to a 5 s read timeout, which kills every
# idle socket's receive loop: read longer than the block. redis-py 8 pools refuse (not queue) past
# max_connections (default 100): a burst of socket connects needs more. retry: a pooled connection
# that Redis dropped (a restart) is retried once on a fresh one; without it every such connection
# fails one socket handshake after Redis is back.
_CHANNELS_POOL = {
    "socket_timeout": 15,
    "socket_connect_timeout": 5,
    "max_connections": 2000,
    "retry": AsyncRetry(NoBackoff(), 1),
}
if REDIS_SENTINELS:
    _CHANNELS_HOST = {
        "sentinels": REDIS_SENTINELS,
        "master_name": REDIS_SENTINEL_MASTER,
        "sentinel_kwargs": REDIS_SENTINEL_KWARGS,
        "db": REDIS_DB,
        "password": REDIS_PASSWORD,
        **_CHANNELS_POOL,
    }
else:
    _CHANNELS_HOST = {"address": REDIS_URL, **_CHANNELS_POOL}
# One host, REDIS_URL's (the cache's): the socket handshake joins and leaves the layer's groups inside its
# slot claim and release, through the cache's client (conversation/socket_limits.py).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "conversation.channel_layer.CancelSafeRedisChannelLayer",
        "CONFIG": {"hosts": [_CHANNELS_HOST], "prefix": "channels", "capacity": 200, "expiry": 30},
    }
}

CELERY_BROKER_URL = _celery_redis_url()
CELERY_RESULT_BACKEND = _celery_redis_url()
if REDIS_SENTINELS:
    _KOMBU_SENTINEL = {"master_name": REDIS_SENTINEL_MASTER, "sentinel_kwargs": REDIS_SENTINEL_KWARGS}
    CELERY_BROKER_TRANSPORT_OPTIONS = _KOMBU_SENTINEL
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = _KOMBU_SENTINEL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# The worker logs through LOGGING below, so its lines carry the request id of the task's request.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

S3_BUCKET = env_str("S3_BUCKET", "conversation-recordings")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL") or None
AWS_REGION = env_str("AWS_REGION", "us-east-1")
RECORDING_MAX_BYTES = env_int("RECORDING_MAX_BYTES", 200 * 1024 * 1024, minimum=1)
RECORDING_URL_TTL_SECONDS = env_int("RECORDING_URL_TTL_SECONDS", 900, minimum=60, maximum=604800)
RECORDING_UPLOAD_WINDOW_SECONDS = env_int("RECORDING_UPLOAD_WINDOW_SECONDS", 3600, minimum=60)
RECORDING_MAX_UPLOADS_PER_PARTICIPANT = env_int("RECORDING_MAX_UPLOADS_PER_PARTICIPANT", 3, minimum=1)

# Product rules (seconds unless named otherwise).
MATCHMAKING_REQUEST_TTL_SECONDS = env_int("MATCHMAKING_REQUEST_TTL_SECONDS", 120, minimum=10)
MATCHMAKING_RELAX_AFTER_SECONDS = env_int("MATCHMAKING_RELAX_AFTER_SECONDS", 30, minimum=0)
MATCHMAKING_REMATCH_COOLDOWN_SECONDS = env_int("MATCHMAKING_REMATCH_COOLDOWN_SECONDS", 600, minimum=0)
MATCHMAKING_REQUEST_HISTORY_DAYS = env_int("MATCHMAKING_REQUEST_HISTORY_DAYS", 7, minimum=1)
MATCHMAKING_RATE_LIMIT_PER_MINUTE = env_int("MATCHMAKING_RATE_LIMIT_PER_MINUTE", 20, minimum=1)
SESSION_HEARTBEAT_TIMEOUT_SECONDS = env_int("SESSION_HEARTBEAT_TIMEOUT_SECONDS", 30, minimum=1)
SESSION_RECONNECT_GRACE_SECONDS = env_int("SESSION_RECONNECT_GRACE_SECONDS", 30, minimum=0)
SESSION_JOIN_TIMEOUT_SECONDS = env_int("SESSION_JOIN_TIMEOUT_SECONDS", 60, minimum=1)
SESSION_MAX_DURATION_SECONDS = env_int("SESSION_MAX_DURATION_SECONDS", 1800, minimum=60)
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 5, minimum=1)
SESSION_MAX_OPEN_INVITATIONS = env_int("SESSION_MAX_OPEN_INVITATIONS", 5, minimum=1)
# Invitations a user may send an hour, answered or not: the open-invitation cap alone let a loop of
# invite-then-cancel store sessions and push `invitation.received` without end.
SESSION_INVITATIONS_PER_HOUR = env_int("SESSION_INVITATIONS_PER_HOUR", 30, minimum=1)

# Operations dashboard verdicts (docs/OPERATIONS.md): amber at the first figure, red at the second.
OPS_OLDEST_WAIT_SECONDS = (env_int("OPS_OLDEST_WAIT_AMBER_SECONDS", 30), env_int("OPS_OLDEST_WAIT_RED_SECONDS", 90))
OPS_MATCH_P99_SECONDS = (env_int("OPS_MATCH_P99_AMBER_SECONDS", 30), env_int("OPS_MATCH_P99_RED_SECONDS", 90))
OPS_EXPIRED_SHARE_PERCENT = (
    env_int("OPS_EXPIRED_SHARE_AMBER_PERCENT", 10, minimum=0, maximum=100),
    env_int("OPS_EXPIRED_SHARE_RED_PERCENT", 30, minimum=0, maximum=100),
)
OPS_BEAT_AGE_SECONDS = (env_int("OPS_BEAT_AGE_AMBER_SECONDS", 30), env_int("OPS_BEAT_AGE_RED_SECONDS", 120))
OPS_DASHBOARD_REFRESH_SECONDS = env_int("OPS_DASHBOARD_REFRESH_SECONDS", 30, minimum=5)
SUPPORTED_LANGUAGE_CODES = env_list(
    "SUPPORTED_LANGUAGE_CODES", ["en", "fr", "es", "de", "it", "pt", "nl", "ja", "zh", "ko", "ar", "ru"]
)

# Request bodies: the API takes small JSON documents only.
# conversation.bodylimit refuses larger bodies before Django reads them; the staff import form takes files.
MAX_REQUEST_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 64 * 1024, minimum=1024)
ADMIN_MAX_REQUEST_BODY_BYTES = env_int("ADMIN_MAX_REQUEST_BODY_BYTES", 2 * 1024 * 1024, minimum=MAX_REQUEST_BODY_BYTES)
WEBSOCKET_MAX_MESSAGE_BYTES = env_int("WEBSOCKET_MAX_MESSAGE_BYTES", 16 * 1024, minimum=256)
# Every socket: at most this many per user across all processes (4429 beyond), and this many frames a second
# sustained over WEBSOCKET_RATE_BURST_SECONDS (then `error` rate_limited and close 1008).
WEBSOCKET_MAX_PER_USER = env_int("WEBSOCKET_MAX_PER_USER", 10, minimum=1)
WEBSOCKET_MAX_MESSAGES_PER_SECOND = env_int("WEBSOCKET_MAX_MESSAGES_PER_SECOND", 20, minimum=1)
WEBSOCKET_RATE_BURST_SECONDS = 5

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "conversation.auth.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["conversation.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "conversation.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Conversation Service API",
    "DESCRIPTION": "Pairs language learners for spoken practice sessions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # One named enum per vocabulary, whichever field or parameter uses it (one model per enum in a client;
    # also keeps drf_spectacular.W001 out of `check --deploy --fail-level WARNING`).
    "ENUM_NAME_OVERRIDES": {
        "Level": "conversation.vocab.LEVELS",
        "LanguageCode": "conversation.vocab.language_codes",
        "Category": "conversation.vocab.CATEGORIES",
        "Duration": "conversation.vocab.DURATION_CHOICES",
        "SessionStatus": "sessions_app.documents.STATUSES",
        "RequestStatus": "matchmaking.documents.STATUSES",
        "EndReason": "sessions_app.documents.END_REASONS",
        "ReportState": "sessions_app.documents.REPORT_STATES",
        "ReportOutcome": "sessions_app.documents.REPORT_OUTCOMES",
        "ValidationErrorCode": [("invalid", "invalid")],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conversation.schema.postprocess_contract",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The S3 origin the practice page uploads to and plays recordings from (presigned URLs).
_S3_ORIGINS = (
    [f"{urlparse(S3_ENDPOINT_URL).scheme}://{urlparse(S3_ENDPOINT_URL).netloc}"]
    if S3_ENDPOINT_URL
    else ["https://s3.amazonaws.com", f"https://s3.{AWS_REGION}.amazonaws.com"]
)
# django-csp: scripts and styles from this origin only (the admin, the sidecar Swagger UI and the practice
# page have no inline script); data: images are Swagger UI's icons; blob: media is the recording in the page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *_S3_ORIGINS],
        "media-src": ["'self'", "blob:", *_S3_ORIGINS],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# English and French (docs/TRANSLATION.md): one project catalog in locale/, compiled by the build.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice is remembered for a year in the person's browser, not just until it closes.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# In DEBUG static files come from the apps (finders); STATIC_ROOT exists once collectstatic ran.
WHITENOISE_USE_FINDERS = DEBUG
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_tokens": {"()": "conversation.logs.RedactTokens"},
        "request_id": {"()": "conversation.logs.RequestIdFilter"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens", "request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # uvicorn logs WebSocket URLs (with ?token=) on its own handlers: route them through ours.
    "loggers": {
        name: {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO"), "propagate": False}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "django.channels.server")
    },
}

# HTTPS. Production runs behind a TLS-terminating proxy: TRUST_PROXY_HEADERS=1 says it sets
# X-Forwarded-Proto, so Django knows which requests came over TLS and redirects the others.
TRUST_PROXY_HEADERS = env_bool("TRUST_PROXY_HEADERS", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
# The header only covers this service's host and the hosts below it, which it serves over TLS too.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading binds the whole registrable domain in browsers for months: the domain owner's call, off here.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [
    # W021 asks for HSTS preload; see SECURE_HSTS_PRELOAD above for why that is not the service's decision.
    "security.W021",
]
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    LANGUAGE_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
if TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = not DEBUG
    # Load-balancer health checks and metrics scrapes reach the process over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
elif not DEBUG:
    # W008 (no SSL redirect): without the proxy's header every request looks like plain HTTP here, so a
    # redirect would loop. Such a deployment must still be reached only over TLS (README "Production").
    SILENCED_SYSTEM_CHECKS.append("security.W008")
