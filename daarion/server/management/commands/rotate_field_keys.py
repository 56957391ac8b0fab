from django.core.management.base import BaseCommand
from django.db import transaction

from daarion.common.crypto import encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field under the first key of FIELD_ENCRYPTION_KEY. Rotation: "
        "prepend a new key (keep the old ones listed), run this, then drop the old keys."
    )

    def handle(self, *args, **options) -> None:
        total = 0
        for model, fields in encrypted_fields():
            names = [field.attname for field in fields]
            rows = 0
            with transaction.atomic():
                for obj in model._default_manager.select_for_update().only("pk", *names):
                    # Reading decrypts with any listed key; writing encrypts with the first.
                    values = {name: getattr(obj, name) for name in names}
                    model._default_manager.filter(pk=obj.pk).update(**values)
                    rows += 1
            total += rows
            self.stdout.write(
                f"{model._meta.label}: {rows} row(s) re-encrypted ({', '.join(names)})"
            )
        self.stdout.write(f"Done: {total} row(s) now encrypted under the first key.")
