from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from daarion.server.checks import check_production_secrets
from daarion.server.startup import refuse_unsafe_start
from tests.fakes.server import REPO_ROOT


def _ids(settings) -> set[str]:
    return {error.id for error in check_production_secrets()}


def test_dev_defaults_refused_when_debug_off(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    settings.INTERNAL_SECRET = settings.DEV_INTERNAL_SECRET
    settings.FIELD_ENCRYPTION_KEYS = [settings.DEV_FIELD_ENCRYPTION_KEY]
    assert _ids(settings) == {"daarion.E001", "daarion.E002", "daarion.E003"}
    with pytest.raises(ImproperlyConfigured, match=r"daarion\.E001"):
        refuse_unsafe_start()


def test_dev_defaults_allowed_in_debug(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    assert _ids(settings) == set()


def test_real_secrets_pass(settings):
    settings.DEBUG = False
    assert _ids(settings) == set()


def test_production_process_refuses_to_start_with_dev_secrets():
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"SECRET_KEY", "INTERNAL_SECRET", "FIELD_ENCRYPTION_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env["DEBUG"] = "0"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "daarion.E001" in result.stderr and "daarion.E002" in result.stderr
