"""Test settings: the real settings with fixed non-default secrets and fast hashing."""

import os

from daarion.server.settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
INTERNAL_SECRET = "test-internal-secret-0123456789"
FIELD_ENCRYPTION_KEYS = ["test-field-key-primary-0123456789"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SERVE_STATIC = False
# pytest-django creates and drops the test database; the pool is exercised by the server tests.
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGGING["root"]["level"] = "WARNING"  # type: ignore[index]  # noqa: F405
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
# toolcore: the fake tool servers run on 127.0.0.1 (SSRF tests override this to []).
TOOLCORE_ALLOWED_HOSTS = ["127.0.0.1"]
DEMO_PROJECTS_SERVICE = True  # mounted so its test can reach it through the real tool path
# The usage writer's disk spool: a fresh folder per test session (never replayed into another).
LLM_USAGE_SPOOL_DIR = LLM_USAGE_SPOOL_DIR or __import__("tempfile").mkdtemp(  # noqa: F405
    prefix="daarion-usage-spool-"
)
TOOLCORE_AUDIT_SPOOL_DIR = TOOLCORE_AUDIT_SPOOL_DIR or __import__("tempfile").mkdtemp(  # noqa: F405
    prefix="daarion-toolcall-spool-"
)
# The fast hashing embedder for the suite; the retrieval eval (tests/eval) uses the real default.
MEMORY_DEFAULT_EMBEDDING_MODEL = "offline-embed"
# A second pytest process in the same worktree (`make bench` beside `make test`) needs its own
# test database: both would otherwise create and drop test_<name>.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}  # noqa: F405
