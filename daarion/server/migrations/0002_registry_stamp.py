from django.db import migrations


class Migration(migrations.Migration):
    """The registry version stamp when there is no Redis (daarion/common/registry_stamp.py)."""

    dependencies = [("daarion", "0001_vector_extension")]
    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS daarion_registry_stamp",
            "DROP SEQUENCE IF EXISTS daarion_registry_stamp",
        )
    ]
