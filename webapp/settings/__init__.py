"""Django settings: embedded defaults for a first run, the environment for everything else.

With no environment: SQLite in the data directory, the local chain node, and a Celery
broker on the filesystem. DATABASE_URL switches to PostgreSQL, REDIS_URL to Redis.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from contracts.chain import settings as chain_settings
from webapp.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_rate,
    env_str,
    production_secret,
    refuse_in_production,
)
from webapp.settings.logs import logging_settings

# Worker queues (single, or one per kind of work), their task routes, the schedule and the
# pool children's memory bound.
from webapp.settings.queues import CELERY_BEAT_SCHEDULE as CELERY_BEAT_SCHEDULE
from webapp.settings.queues import CELERY_TASK_ROUTES as CELERY_TASK_ROUTES
from webapp.settings.queues import (
    CELERY_WORKER_MAX_MEMORY_PER_CHILD as CELERY_WORKER_MAX_MEMORY_PER_CHILD,
)
from webapp.settings.queues import WORKER_QUEUE_TASKS as WORKER_QUEUE_TASKS
from webapp.settings.queues import WORKER_QUEUES as WORKER_QUEUES

BASE_DIR = Path(__file__).resolve().parents[2]
DATA_DIR = chain_settings.data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True)  # the embedded SQLite database lives here

#: "production" makes the deployment fail closed: no DEBUG, no development secret, HTTPS
#: only (see the production block at the end). Anything else is a development run.
PROVENANT_ENV = env_choice("PROVENANT_ENV", "development", ("development", "production"))
PRODUCTION = PROVENANT_ENV == "production"
DEVELOPMENT_SECRET_KEY = "provenant-development-only-secret-key-change-me"
DEVELOPMENT_KEYSTORE_PASSPHRASE = "provenant-development-passphrase"

DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "" if PRODUCTION else DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)

INSTALLED_APPS = [
    # First, so the portal's registration/ templates (login, set password) win over the admin's.
    "webapp.portal",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "webapp.chain",
    "webapp.projections",
    "webapp.organisations",
    "webapp.operations",
    "webapp.participants",
    "webapp.documents",
    "webapp.privacy",
    "webapp.lots",
    "webapp.certificates",
    "webapp.provenance",
    "webapp.sustainability",
    "webapp.passport",
    "webapp.imports",
    "webapp.epcis",
    "webapp.streams",
    "webapp.monitoring",
    "webapp.exports.lake",
    "webapp.exports.warehouse",
    "webapp.exports.search",
    "webapp.api",
    "webapp.graphql",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "webapp.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webapp.formatting.middleware.ReaderTimeZone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

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
            "libraries": {"formatting": "webapp.formatting.tags"},
        },
    }
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'provenant.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has one writer at a time: WAL lets readers go on beside it, a
    # write transaction takes the lock when it begins (not half way, where SQLite cannot
    # wait and answers "database is locked" at once), and a writer waits up to 20 s.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
#: A PostgreSQL read replica for reads that tolerate lag (webapp/db_router.py); empty:
#: every read goes to the primary.
REPLICA_DATABASE_URL = env_str("PROVENANT_REPLICA_DATABASE_URL", "")
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = database_from_url(REPLICA_DATABASE_URL)
    # the tests read the replica as the primary itself
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["webapp.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "login"
MEDIA_ROOT = Path(env_str("PROVENANT_MEDIA_DIR", str(DATA_DIR / "media")))

# --- chain and indexer
CHAIN_RPC_URL = chain_settings.rpc_url()
#: A proof-of-authority chain (Besu QBFT; PROVENANT_POA_CHAIN): /metrics then also reports
#: each validator's proposals (`qbft_getSignerMetrics`).
CHAIN_POA = chain_settings.poa_chain()
#: The chain this deployment serves; operations are queued for it even while the node is down.
CHAIN_ID = env_int("PROVENANT_CHAIN_ID", chain_settings.LOCAL_CHAIN_ID, minimum=1)
#: Blocks an event must be buried under before it is mirrored (0: QBFT's instant finality).
#: Prefix of a block explorer's transaction page (e.g. a Blockscout on the Besu network);
#: empty: the portal shows transaction hashes without links.
EXPLORER_TX_URL = env_str("PROVENANT_EXPLORER_TX_URL", "")
INDEXER_CONFIRMATIONS = env_int("INDEXER_CONFIRMATIONS", 0, minimum=0)
#: Largest eth_getLogs range tried first; Besu caps ranges at 5,000 blocks by default.
INDEXER_MAX_RANGE = env_int("INDEXER_MAX_RANGE", 5000, minimum=1)

#: What follows the event store, in the order `webapp.chain.pipeline` runs it: projections
#: first, then operation confirmation (so "confirmed" means "visible in the portal"), then
#: revocation notifications (which read the projections), then the facts as EPCIS events.
CHAIN_CONSUMERS = [
    "webapp.projections.consumers.ProjectionConsumer",
    "webapp.operations.consumers.OperationConfirmation",
    "webapp.provenance.consumers.RevocationNotifications",
    "webapp.epcis.consumers.ChainFacts",
    "webapp.streams.consumers.StreamRetractions",
    "webapp.monitoring.anchoring.ReadingAnchors",
    "webapp.exports.lake.consumer.LakeExport",  # a no-op while LAKE_URL is empty
    # The reporting warehouse (webapp/exports/warehouse, PostgreSQL only): reads the projections.
    "webapp.exports.warehouse.consumer.WarehouseRefresh",
    # The search index (webapp/exports/search): after the projections it re-reads.
    "webapp.exports.search.consumers.SearchIndexConsumer",
]
#: Root of the Parquet data lake (a path or any fsspec URL: s3://, gs://, abfs://...);
#: empty: no lake.
LAKE_URL = env_str("PROVENANT_LAKE_URL", "")

# --- GS1 Digital Link
#: Root of the GS1 Digital Link URIs the passport QR codes encode (e.g. https://id.example.com
#: or https://id.gs1.org when GS1's resolver forwards there); empty: this site's own address,
#: whose built-in resolver answers /01/{gtin}/10/{lot} and /00/{sscc}.
RESOLVER_URL = env_str("PROVENANT_RESOLVER_URL", "").rstrip("/")
if RESOLVER_URL and not RESOLVER_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        f"PROVENANT_RESOLVER_URL={RESOLVER_URL!r} should be an http(s) address."
    )

# --- public evidence packs
#: Evidence packs one anonymous client address may download per window: "N/minute",
#: "N/hour" or "N/day". Counted in Django's cache (per process with the default one).
EVIDENCE_ANONYMOUS_RATE = env_str("PROVENANT_EVIDENCE_RATE", "30/hour")

# --- partner REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "webapp.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "webapp.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Provenant partner API",
    "DESCRIPTION": (
        "Register lots, certificates, custody handoffs, bundles and transformations; read the"
        " chain's mirror. Authenticate with `Authorization: Bearer <API token>`. Every write"
        " needs an `Idempotency-Key` header and answers 202 with the operation to follow"
        " (queued → submitted → mined → confirmed, or failed with the reason). Errors are"
        " `application/problem+json`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # choice sets that share a field name get names of their own (not a hash suffix)
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webapp.api.schema.say_what_the_server_takes",
    ],
    "ENUM_NAME_OVERRIDES": {
        "LotKindEnum": ["raw_material", "component", "product"],
        "LotKindOrBundleEnum": ["raw_material", "component", "product", "bundle"],
        "LineageKindEnum": ["transform", "bundle"],
    },
}

# --- key stores: where each organisation's signing key lives (see webapp/organisations/keys.py)
KEY_STORE_BACKENDS = {
    "keystore": "webapp.organisations.keys.keystore_file_backend",
    "pkcs11": "webapp.organisations.keys.pkcs11_backend",
    "keyvault": "webapp.organisations.keys.keyvault_backend",
}
#: The backend new organisation keys (and data-key wrapping keys) are created in; an
#: organisation can be moved to another with a key rotation.
KEY_BACKEND = env_choice("PROVENANT_KEY_BACKEND", "keystore", tuple(KEY_STORE_BACKENDS))
KEYSTORE_DIR = Path(env_str("PROVENANT_KEYSTORE_DIR", str(DATA_DIR / "keys")))
#: The master secret of the keystore files: each file is encrypted under its own secret
#: derived from it (HKDF over the file's name), so a leaked per-file secret opens one key.
#: Set it from a secret store in production (where an HSM or Key Vault is the better home).
KEYSTORE_PASSPHRASE = env_str(
    "PROVENANT_KEYSTORE_PASSPHRASE", "" if PRODUCTION else DEVELOPMENT_KEYSTORE_PASSPHRASE
)
#: scrypt work factor for new keystore files (eth-account's default is 262144).
KEYSTORE_KDF_ITERATIONS = env_int("PROVENANT_KEYSTORE_KDF_ITERATIONS", 262_144, minimum=2)

# PKCS#11 HSM: the vendor's module, the token's label and the user PIN (from a secret store).
# The defaults fit Debian's SoftHSM2 (`make demo KEY_BACKEND=pkcs11` provisions a token).
PKCS11_LIBRARY = env_str("PROVENANT_PKCS11_LIBRARY", "/usr/lib/softhsm/libsofthsm2.so")
PKCS11_TOKEN_LABEL = env_str("PROVENANT_PKCS11_TOKEN_LABEL", "provenant")
PKCS11_USER_PIN = env_str("PROVENANT_PKCS11_USER_PIN", "")

# Azure Key Vault (or Managed HSM): the vault URL, and the credential: "default" is
# azure-identity's DefaultAzureCredential (managed identity, workload identity or the
# AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET variables); "static:<token>" is
# only for the local Key Vault server (deploy/local/keyvault/), whose self-signed CA
# is trusted through AZURE_KEY_VAULT_CA_FILE. See docs in contracts/custody/keyvault.py.
AZURE_KEY_VAULT_URL = env_str("PROVENANT_KEY_VAULT_URL", "")
AZURE_KEY_VAULT_CREDENTIAL = env_str("PROVENANT_KEY_VAULT_CREDENTIAL", "default")
AZURE_KEY_VAULT_CA_FILE = env_str("PROVENANT_KEY_VAULT_CA_FILE", "")
#: Create HSM-backed keys (EC-HSM: Key Vault Premium or Managed HSM).
AZURE_KEY_VAULT_HSM = env_bool("PROVENANT_KEY_VAULT_HSM", False)

# --- personal data: sealed per data subject under keys wrapped by KEY_BACKEND's wrapping
# key. The retention policy layers a period key ("month", "quarter", "year"; "none" for
# none) over each subject's key so `manage.py shred_period <name>` erases a whole period.
PERSONAL_DATA_RETENTION = env_choice(
    "PROVENANT_PERSONAL_DATA_RETENTION", "quarter", ("month", "quarter", "year", "none")
)

# --- operations: queued writes go to the submitter through Celery (the sweeper catches up
# on anything a lost message left behind).
OPERATIONS_DISPATCH = env_bool("PROVENANT_OPERATIONS_DISPATCH", True)
#: An operation queued, submitted or mined for longer than this counts as stuck: health
#: is degraded and /metrics reports it until it is confirmed or failed.
OPERATION_STUCK_SECONDS = env_int("PROVENANT_OPERATION_STUCK_SECONDS", 300, minimum=1)

# --- Celery: Redis when REDIS_URL is set, otherwise a broker on the filesystem.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
else:
    _broker_dir = DATA_DIR / "celery-broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
#: Captured EPCIS events are anchored in Merkle batches of at most this many events, or
#: sooner once the oldest waited this long (`webapp.epcis.anchoring`).
EPCIS_ANCHOR_BATCH_SIZE = env_int("PROVENANT_EPCIS_ANCHOR_BATCH_SIZE", 1000)
EPCIS_ANCHOR_MAX_WAIT_SECONDS = env_int("PROVENANT_EPCIS_ANCHOR_MAX_WAIT_SECONDS", 60)
#: Sensor readings are anchored likewise, per anchoring organisation
#: (`webapp.monitoring.anchoring`).
MONITORING_ANCHOR_BATCH_SIZE = env_int("PROVENANT_MONITORING_ANCHOR_BATCH_SIZE", 1000, minimum=1)
MONITORING_ANCHOR_MAX_WAIT_SECONDS = env_int(
    "PROVENANT_MONITORING_ANCHOR_MAX_WAIT_SECONDS", 60, minimum=0
)
#: Device readings over MQTT (`manage.py ingest_readings`): the project's own Mosquitto
#: (deploy/local/mosquitto/), beside any other broker on the machine. With a broker
#: directory set, registering or revoking a device rewrites its password file and ACL
#: there and reloads it.
MQTT_HOST = env_str("PROVENANT_MQTT_HOST", "127.0.0.1")
MQTT_PORT = env_int("PROVENANT_MQTT_PORT", 1884, minimum=1)
MQTT_BROKER_DIR = env_str("PROVENANT_MQTT_BROKER_DIR", "")
MQTT_INGEST_USERNAME = env_str("PROVENANT_MQTT_INGEST_USERNAME", "provenant-ingest")
MQTT_INGEST_PASSWORD = env_str("PROVENANT_MQTT_INGEST_PASSWORD", "")

# --- Event streams: webhooks (webapp.streams).
#: Plain http:// webhooks to loopback addresses (development and tests only).
STREAMS_ALLOW_HTTP_LOOPBACK = env_bool("PROVENANT_STREAMS_ALLOW_HTTP_LOOPBACK", DEBUG)
#: Private networks (CIDR, comma-separated) webhooks may reach, e.g. a partner's VPN range.
STREAMS_ALLOWED_PRIVATE_NETWORKS = env_list("PROVENANT_STREAMS_ALLOWED_PRIVATE_NETWORKS", [])
for _network in STREAMS_ALLOWED_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"PROVENANT_STREAMS_ALLOWED_PRIVATE_NETWORKS: {_network!r} is not a network."
        ) from _exc
STREAMS_CONNECT_TIMEOUT_S = env_int("PROVENANT_STREAMS_CONNECT_TIMEOUT_S", 5, minimum=1)
STREAMS_READ_TIMEOUT_S = env_int("PROVENANT_STREAMS_READ_TIMEOUT_S", 15, minimum=1)
#: How long the previous signing secret keeps signing after a rotation.
STREAMS_SECRET_OVERLAP_S = env_int("PROVENANT_STREAMS_SECRET_OVERLAP_S", 86400, minimum=0)

# --- security: production switch, HTTPS, content security policy, login and API throttles.
# Kept together so the whole posture reads in one place.

#: The reverse proxy in front of the app terminates TLS and sets X-Forwarded-Proto and
#: X-Forwarded-For: trust them (only when no client can reach the app around the proxy).
TRUSTED_PROXY = env_bool("PROVENANT_TRUSTED_PROXY", False)
if TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if PRODUCTION:
    if DEBUG:
        raise refuse_in_production(
            "DJANGO_DEBUG", "is on (its error pages show settings, code and requests)"
        )
    production_secret(
        "DJANGO_SECRET_KEY",
        SECRET_KEY,
        development_default=DEVELOPMENT_SECRET_KEY,
        min_length=50,
    )
    if not ALLOWED_HOSTS:
        raise refuse_in_production("DJANGO_ALLOWED_HOSTS", "is not set (the site's host names)")
    if KEY_BACKEND == "keystore" or KEYSTORE_PASSPHRASE:
        production_secret(
            "PROVENANT_KEYSTORE_PASSPHRASE",
            KEYSTORE_PASSPHRASE,
            development_default=DEVELOPMENT_KEYSTORE_PASSPHRASE,
            min_length=16,
        )
    if KEY_BACKEND == "pkcs11" and not PKCS11_USER_PIN:
        raise refuse_in_production("PROVENANT_PKCS11_USER_PIN", "is not set")
    if AZURE_KEY_VAULT_CREDENTIAL.startswith("static:"):
        raise refuse_in_production(
            "PROVENANT_KEY_VAULT_CREDENTIAL", "is a static token (only for the local test vault)"
        )
    SECURE_SSL_REDIRECT = env_bool("PROVENANT_SSL_REDIRECT", True)
    #: Load balancers probe the health endpoints over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health/"]
    SECURE_HSTS_SECONDS = env_int("PROVENANT_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PROVENANT_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("PROVENANT_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

#: Sent on every response (webapp/security.py). Scripts and styles come from the site's own
#: static files only: the portal has no inline script, style or event handler.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
#: Path prefixes whose pages need a looser directive: Swagger UI styles its elements inline.
CONTENT_SECURITY_POLICY_PATHS = {
    "/api/docs/": {"style-src": "'self' 'unsafe-inline'"},
    # GraphiQL (development only) embeds its fonts in its style sheet
    "/graphql": {"font-src": "'self' data:"},
}

# Accounts: Django's password validators (the invitation's set-password page and
# member_invite apply them), and sign-in throttling (webapp/portal/login_throttle.py).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PROVENANT_PASSWORD_MIN_LENGTH", 12, minimum=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "webapp.portal.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
#: Failed sign-ins allowed per account, and per client address, before sign-in is locked.
LOGIN_FAILURES_PER_ACCOUNT = env_int("PROVENANT_LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("PROVENANT_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
#: The first lockout; each further failure doubles it, up to the maximum.
LOGIN_LOCKOUT_SECONDS = env_int("PROVENANT_LOGIN_LOCKOUT_SECONDS", 300, minimum=1)
LOGIN_LOCKOUT_MAX_SECONDS = env_int("PROVENANT_LOGIN_LOCKOUT_MAX_SECONDS", 3600, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("PROVENANT_LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)

# API rate limits per token and, for anonymous requests, per client address (429 with
# Retry-After). Counts live in the cache below.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "webapp.api.throttling.TokenRateThrottle",
    "webapp.api.throttling.AnonymousRateThrottle",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "token": env_rate("PROVENANT_API_RATE_PER_TOKEN", "1200/minute"),
    "anon": env_rate("PROVENANT_API_RATE_ANONYMOUS", "120/minute"),
}
#: Sign-in failures and rate-limit counts must be shared by every web process: Redis at
#: PROVENANT_CACHE_URL (default REDIS_URL); process memory only in development, where one
#: process serves.
CACHE_URL = env_str("PROVENANT_CACHE_URL", REDIS_URL)
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
elif PRODUCTION:
    raise refuse_in_production(
        "PROVENANT_CACHE_URL",
        "is not set, nor REDIS_URL (without a shared cache every web process keeps its own"
        " sign-in lockouts and rate limits)",
    )

#: Reports that roll the whole view up (the sustainability dashboard) are computed at most
#: once per this many seconds per organisation and filters, and shared by every web
#: process through the cache (0: computed on every request). The page says when.
REPORT_CACHE_S = env_int("PROVENANT_REPORT_CACHE_S", 10, minimum=0)

#: Error reports (the DEBUG page, admin e-mails) hide the PKCS#11 PIN, passwords in URLs
#: (REDIS_URL, the broker) and every setting, variable or header named like a secret.
DEFAULT_EXCEPTION_REPORTER_FILTER = "webapp.security.SecretHidingExceptionReporterFilter"

# --- input bounds at the edge (numbers in webapp/limits.py): NUL characters refused before
# any view, uploads capped while they stream in, API JSON parsed with a size and depth cap.
MIDDLEWARE.insert(1, "webapp.edge.RefuseNulBytes")
# Last: a view's exception reaches it first (middleware sees exceptions in reverse order).
MIDDLEWARE.append("webapp.edge.DatabaseUnavailable")
MIDDLEWARE.append("webapp.edge.RequestMemo")
# First of all: every request's id and latency, whatever answers it.
MIDDLEWARE.insert(0, "webapp.telemetry.RequestObserved")

LOG_FORMAT, LOGGING = logging_settings(production=PRODUCTION)
FILE_UPLOAD_HANDLERS = [
    "webapp.documents.uploads.UploadSizeCap",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "webapp.api.parsers.BoundedJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
# path ids are uint256 (webapp/converters.py); a larger one is no page (404)
SPECTACULAR_SETTINGS["PATH_CONVERTER_OVERRIDES"] = {
    "uint": {"type": "integer", "minimum": 0, "maximum": 2**256 - 1}
}
