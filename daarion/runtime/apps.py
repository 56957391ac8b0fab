from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "daarion.runtime"
    label = "runtime"
    verbose_name = "Agent runtime"
