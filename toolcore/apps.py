from django.apps import AppConfig


class ToolcoreConfig(AppConfig):
    name = "toolcore"
    verbose_name = "Tools"
