from django.apps import AppConfig


class FactsConfig(AppConfig):
    name = "memory.facts"
    label = "facts"
    verbose_name = "Memory facts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from memory.facts import signals  # noqa: F401  (settings cache invalidation)
