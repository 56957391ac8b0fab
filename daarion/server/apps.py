from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class DaarionAdminConfig(AdminConfig):
    default_site = "daarion.server.admin_site.DaarionAdminSite"


class DaarionConfig(AppConfig):
    # The composition root keeps the historical app label so migrations, templates and
    # `manage.py serve|bootstrap_demo|registry|rotate_field_keys` keep their names.
    name = "daarion.server"
    label = "daarion"
    verbose_name = "DAARION"

    def ready(self) -> None:
        from daarion.server import checks  # noqa: F401  (registers the system checks)
