from django.apps import AppConfig


class ToolcoreConfig(AppConfig):
    name = "toolcore"
    verbose_name = "Tools"

    def ready(self) -> None:
        from toolcore import builtin, signals  # noqa: F401  (registers tools and receivers)
