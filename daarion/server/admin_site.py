from functools import partial

from django.contrib import admin
from django.urls import path

from daarion.common.storable_forms import StorableInputAdminMixin


class DaarionAdminSite(admin.AdminSite):
    site_header = "DAARION platform"
    site_title = "DAARION admin"
    index_title = "Agents, LLM gateway, memory and tools"
    # "View site" leads to the operator overview (the service has no public site).
    site_url = "/admin/overview/"
    # The app list is one click away (Home); at 1400 px its 300 px sidebar pushed the usage log's
    # status/cost/latency and the memory browser's text off-screen.
    enable_nav_sidebar = False

    def get_urls(self):
        from daarion.server.overview import overview_view  # imports the apps' models: load on use

        view = self.admin_view(partial(overview_view, admin_site=self))
        return [path("overview/", view, name="overview"), *super().get_urls()]

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every ModelAdmin gets the input rules on all its forms (common/storable_forms.py):
        NUL, lone surrogates and over-deep JSON are form errors, never a 500."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, StorableInputAdminMixin):
            admin_class = type(
                admin_class.__name__,
                (StorableInputAdminMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        return super().register(model_or_iterable, admin_class, **options)
