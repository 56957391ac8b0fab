"""HNSW indexes store halfvec (faster, same recall): rebuild the indexes made as vector."""

from django.conf import settings
from django.db import migrations


def to_halfvec(apps, schema_editor):
    from memory.spaces import index_name_for

    EmbeddingSpace = apps.get_model("memory", "EmbeddingSpace")
    for space in EmbeddingSpace.objects.all():
        new_name = index_name_for(space.model)
        if space.index_name == new_name:
            continue
        schema_editor.execute(f'DROP INDEX IF EXISTS "{space.index_name}"')
        space.index_name = new_name
        space.save(update_fields=["index_name"])
        model = space.model.replace("'", "''")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {new_name} ON memory_memoryembedding USING hnsw "
            f"((embedding::halfvec({int(space.dimensions)})) halfvec_cosine_ops) "
            f"WITH (m = {int(settings.MEMORY_HNSW_M)}, "
            f"ef_construction = {int(settings.MEMORY_HNSW_EF_CONSTRUCTION)}) "
            f"WHERE model = '{model}'"
        )


class Migration(migrations.Migration):
    dependencies = [("memory", "0001_initial")]

    operations = [migrations.RunPython(to_halfvec, migrations.RunPython.noop)]
