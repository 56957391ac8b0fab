from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from daarion.server.api import internal_api, openai_api
from daarion.server.health import liveness, readiness
from daarion.server.views import api_not_found
from llm.views import metrics as llm_metrics

urlpatterns = [
    path("health", liveness, name="health"),
    path("internal/health", readiness, name="internal-health"),
    path("metrics", llm_metrics, name="metrics"),
    path("internal/", internal_api.urls),
    path("v1/", openai_api.urls),
    # Unknown API paths: 401 without credentials (paths are not probeable), else JSON 404.
    re_path(r"^(?:internal|v1)(?:/.*)?$", api_not_found),
    path("admin/", admin.site.urls),
]

if (
    settings.DEMO_PROJECTS_SERVICE
):  # the demo's stand-in projects service (see daarion/server/demo_projects.py)
    urlpatterns.append(path("demo/projects-service/", include("daarion.server.demo_projects")))
