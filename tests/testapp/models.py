from django.db import models

from daarion.common.crypto import EncryptedTextField


class SecretNote(models.Model):
    """Test-only model for the encrypted field (no migrations: created by the test runner)."""

    label = models.CharField(max_length=50)
    secret = EncryptedTextField(blank=True)

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return self.label
