from functools import partial

from django.contrib import admin
from django.urls import path


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
