from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class DaarionAdminConfig(AdminConfig):
    default_site = "daarion.admin_site.DaarionAdminSite"


class DaarionConfig(AppConfig):
    name = "daarion"
    verbose_name = "DAARION"

    def ready(self) -> None:
        from daarion import checks  # noqa: F401  (registers the system checks)
