"""Registry changes invalidate the per-process caches at once and move the shared registry
stamp after commit, so other processes drop theirs too (daarion/common/registry_stamp.py)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from daarion.agents.models import MicroDAO
from daarion.common.registry_stamp import registry_changed
from llm.budget import budget_cache
from llm.models import ModelRoute, Provider, ProviderKey, RouteTarget
from llm.registry import registry_invalidate


@receiver([post_save, post_delete], sender=Provider)
@receiver([post_save, post_delete], sender=ProviderKey)
@receiver([post_save, post_delete], sender=ModelRoute)
@receiver([post_save, post_delete], sender=RouteTarget)
def _invalidate_registry(**kwargs) -> None:
    registry_invalidate()
    registry_changed()  # other processes, after commit


@receiver([post_save, post_delete], sender=MicroDAO)
def _invalidate_budgets(**kwargs) -> None:
    budget_cache.invalidate()
    registry_changed()
