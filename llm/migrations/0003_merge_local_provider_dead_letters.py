from django.db import migrations


class Migration(migrations.Migration):
    """Joins the `local` provider kind and the usage dead-letter table (parallel branches)."""

    dependencies = [
        ("llm", "0002_provider_kind_local"),
        ("llm", "0002_usagedeadletter_usagelog_row_id"),
    ]

    operations = []
