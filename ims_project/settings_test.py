"""Test settings: real PostgreSQL and Redis on the local machine (DATABASE_URL / REDIS_URL override)."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from .settings import *  # noqa: E402,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
SECURE_SSL_REDIRECT = False
AXES_FAILURE_LIMIT = 10
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)  # noqa: F405
# Request counters in memory: one test's counts never reach a test in another xdist worker (tests/auth/conftest.py
# clears them between tests).
CACHES["limits"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "limits"}  # noqa: F405
