from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from daarion.common.registry_stamp import registry_changed
from toolcore.models import Grant, McpServer, McpServerSecretHeader, Tool, ToolSecretHeader
from toolcore.selectors import registry_cache


@receiver([post_save, post_delete], sender=Tool)
@receiver([post_save, post_delete], sender=ToolSecretHeader)
@receiver([post_save, post_delete], sender=Grant)
@receiver([post_save, post_delete], sender=McpServer)
@receiver([post_save, post_delete], sender=McpServerSecretHeader)
def _invalidate_registry(**kwargs) -> None:
    # Now, for this transaction's own reads, and again after commit, so that a snapshot another
    # request loaded before the commit is not kept.
    registry_cache.invalidate()
    transaction.on_commit(registry_cache.invalidate)
    registry_changed()  # other processes, after commit
