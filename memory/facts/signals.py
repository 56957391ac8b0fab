from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from memory.facts.config import facts_config_cache
from memory.facts.models import FactSettings


@receiver([post_save, post_delete], sender=FactSettings)
def _invalidate(**kwargs) -> None:
    facts_config_cache.invalidate()
