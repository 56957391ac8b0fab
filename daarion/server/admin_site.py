from django.contrib import admin


class DaarionAdminSite(admin.AdminSite):
    site_header = "DAARION platform"
    site_title = "DAARION admin"
    index_title = "Agents, LLM gateway, memory and tools"
