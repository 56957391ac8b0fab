from __future__ import annotations

import pytest
from django.db import connection

from daarion.common.crypto import decrypt_str, encrypt_str, rotate_str
from tests.testapp.models import SecretNote

pytestmark = pytest.mark.django_db


def _raw_column(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM testapp_secretnote WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_round_trip_and_not_stored_in_clear():
    note = SecretNote.objects.create(label="k", secret="sk-live-very-secret")
    raw = _raw_column(note.pk)
    assert "sk-live-very-secret" not in raw
    assert raw.startswith("enc1:")
    assert SecretNote.objects.get(pk=note.pk).secret == "sk-live-very-secret"


def test_ciphertext_is_randomised():
    assert encrypt_str("same") != encrypt_str("same")


def test_empty_values_stay_empty():
    note = SecretNote.objects.create(label="empty", secret="")
    assert _raw_column(note.pk) == ""
    assert SecretNote.objects.get(pk=note.pk).secret == ""


def test_key_rotation(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["old-key-0123456789abcdef"]
    old_ciphertext = encrypt_str("rotate-me")
    settings.FIELD_ENCRYPTION_KEYS = ["new-key-0123456789abcdef", "old-key-0123456789abcdef"]
    assert decrypt_str(old_ciphertext) == "rotate-me"
    rotated = rotate_str(old_ciphertext)
    settings.FIELD_ENCRYPTION_KEYS = ["new-key-0123456789abcdef"]
    assert decrypt_str(rotated) == "rotate-me"


def test_wrong_key_error_does_not_leak_ciphertext(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["key-a-0123456789abcdef"]
    ciphertext = encrypt_str("secret-value")
    settings.FIELD_ENCRYPTION_KEYS = ["key-b-0123456789abcdef"]
    with pytest.raises(Exception) as info:
        decrypt_str(ciphertext)
    assert ciphertext not in str(info.value) and "secret-value" not in str(info.value)


def test_rotate_field_keys_command(settings):
    import io

    from django.core.management import call_command

    settings.FIELD_ENCRYPTION_KEYS = ["old-key-0123456789abcdef"]
    note = SecretNote.objects.create(label="k", secret="rotate-me-please")
    old_raw = _raw_column(note.pk)
    settings.FIELD_ENCRYPTION_KEYS = ["new-key-0123456789abcdef", "old-key-0123456789abcdef"]
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "testapp.SecretNote: 1 row(s)" in out.getvalue()
    assert _raw_column(note.pk) != old_raw
    settings.FIELD_ENCRYPTION_KEYS = ["new-key-0123456789abcdef"]  # the old key is gone
    assert SecretNote.objects.get(pk=note.pk).secret == "rotate-me-please"
