from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "daarion.agents"
    label = "agents"
    verbose_name = "Agents and access"

    def ready(self) -> None:
        from daarion.agents import signals  # noqa: F401  (cache invalidation)
