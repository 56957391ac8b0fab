from django.db import migrations


class Migration(migrations.Migration):
    """Joins the MCP fields and the write-ahead audit's `started` outcome (parallel branches)."""

    dependencies = [
        ("toolcore", "0003_alter_toolcall_outcome"),
        ("toolcore", "0003_mcp"),
    ]

    operations = []
