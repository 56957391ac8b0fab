"""The whole platform wired together: a scripted LLM upstream, a projects service, Sofia."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daarion.agents.models import Agent, MicroDAO
from daarion.common.process_state import process_state_reset
from daarion.server.demo import demo_registry_import
from llm.models import ProviderKind
from llm.services import route_upsert
from tests.e2e.fakes import ProjectsService, sofia_script
from tests.fakes.openai_upstream import UpstreamState, fake_upstream
from tests.fakes.server import serve_aiohttp
from tests.llm.factories import ProviderFactory


@pytest.fixture
def scripted_llm():
    """The shared fake upstream, scripted to play Sofia's LLM (`state.requests`, `state.down`)."""
    with fake_upstream(UpstreamState(script=sofia_script)) as (_, state):
        yield state


@pytest.fixture
def projects_service():
    service = ProjectsService()
    with serve_aiohttp(service.app()) as url:
        service.url = url
        yield service


@pytest.fixture
def sofia_world(transactional_db, settings, scripted_llm, projects_service):
    """The demo registry (demo/registry.yaml: microdao:daarion, Sofia, the seed tools granted,
    the offline embedder), with the projects tools pointing at the local projects service and
    Sofia's chat route at the scripted LLM."""
    settings.LLM_RETRY_BACKOFF_SECONDS = 0.01
    settings.PROJECTS_SERVICE_URL = projects_service.url
    demo_registry_import()
    upstream = ProviderFactory(
        name="scripted", kind=ProviderKind.OPENAI_COMPATIBLE, base_url=f"{scripted_llm.url}/v1"
    )
    scripted_target = {
        "provider": upstream,
        "physical_model": "scripted-1",
        "input_price_per_1m": Decimal("2.00"),
        "output_price_per_1m": Decimal("8.00"),
    }
    route_upsert(name="sofia-default", kind="chat", targets=[scripted_target])
    process_state_reset()  # the import above filled the caches
    microdao = MicroDAO.objects.get(pk="microdao:daarion")
    sofia = Agent.objects.get(pk="agent:sofia")
    yield {"microdao": microdao, "sofia": sofia}
    process_state_reset()


# --- headless Chromium at an operator's screen size (browser tests) ---------------------------
@pytest.fixture
def chromium_1400():
    """Headless Chromium, 1400x1000 CSS pixels. Needs Debian's chromium + chromium-driver
    (.ci/run installs them); skipped with a message where they are missing."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip(
            "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    # --window-size sets the outer window; make the viewport itself 1400x1000.
    driver.set_window_size(1400, 1000)
    inner_w, inner_h = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(1400 + (1400 - inner_w), 1000 + (1000 - inner_h))
    yield driver
    driver.quit()
