from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from daarion.agents.models import MicroDAO
from daarion.common.registry_stamp import registry_changed
from memory.config import config_cache
from memory.models import EmbeddingSpace, MemorySettings
from memory.partitions import partition_ensure
from memory.spaces import space_cache


@receiver([post_save, post_delete], sender=MemorySettings)
@receiver([post_save, post_delete], sender=MicroDAO)
def _invalidate_settings(**kwargs) -> None:
    config_cache.invalidate()
    registry_changed()  # other processes, after commit


@receiver([post_save, post_delete], sender=EmbeddingSpace)
def _invalidate_spaces(**kwargs) -> None:
    space_cache.invalidate()
    registry_changed()


@receiver(post_save, sender=MicroDAO)
def _give_partition(instance: MicroDAO, created: bool, **kwargs) -> None:
    # Its own partition before its first vector (memory/partitions.py); in this transaction.
    if created:
        partition_ensure(instance.pk)
