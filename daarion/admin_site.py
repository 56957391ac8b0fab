from functools import partial

from django.contrib import admin
from django.urls import path


class DaarionAdminSite(admin.AdminSite):
    site_header = "DAARION platform"
    site_title = "DAARION admin"
    index_title = "Agents, LLM gateway, memory and tools"
    # "View site" leads to the operator overview (the service has no public site).
    site_url = "/admin/overview/"

    def get_urls(self):
        from daarion.overview import overview_view  # imports the apps' models: load on use

        view = self.admin_view(partial(overview_view, admin_site=self))
        return [path("overview/", view, name="overview"), *super().get_urls()]
