from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from daarion.agents.models import Agent, MicroDAO, ServiceToken
from daarion.agents.selectors import agent_cache, token_cache
from daarion.common.registry_stamp import registry_changed


@receiver([post_save, post_delete], sender=Agent)
@receiver([post_save, post_delete], sender=MicroDAO)
def _invalidate_agents(**kwargs) -> None:
    agent_cache.invalidate()
    registry_changed()  # other processes, after commit


@receiver([post_save, post_delete], sender=ServiceToken)
def _invalidate_tokens(**kwargs) -> None:
    token_cache.invalidate()
    registry_changed()
