from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from daarion.common.registry_stamp import registry_changed
from memory.facts.config import facts_config_cache
from memory.facts.models import FactSettings


@receiver([post_save, post_delete], sender=FactSettings)
def _invalidate(**kwargs) -> None:
    facts_config_cache.invalidate()
    registry_changed()  # other processes, after commit
