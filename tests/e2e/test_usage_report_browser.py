"""The admin usage report, seen in a real browser: log in, open the report, screenshot, check the
chart rendered its data points. Needs Debian's chromium + chromium-driver (.ci/run installs
them); skipped with a message where they are missing."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from llm.models import UsageLog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "Chromium/ChromeDriver not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def usage_rows():
    now = timezone.now()
    rows = []
    for day in range(3):
        for i in range(day + 2):
            rows.append(
                UsageLog(
                    created_at=now - dt.timedelta(days=day, minutes=i),
                    request_id=f"r{day}-{i}",
                    agent_id="agent:sofia",
                    microdao_id="microdao:daarion",
                    model="sofia-default",
                    provider="openai",
                    physical_model="gpt-4.1-mini",
                    prompt_tokens=100,
                    completion_tokens=50,
                    total_tokens=150,
                    latency_ms=120 + i,
                    cost_usd=Decimal("0.0012") * (day + 1),
                    status="ok" if i else "error",
                    error_type="" if i else "timeout",
                )
            )
    UsageLog.objects.bulk_create(rows)
    return rows


def _rendered_bars(driver) -> list[tuple[float, float]] | bool:
    """(height, value) of each chart bar once the page has loaded; False to keep waiting."""
    from selenium.webdriver.common.by import By

    if driver.execute_script("return document.readyState") != "complete":
        return False
    bars = driver.find_elements(By.CSS_SELECTOR, "svg.usage-chart rect.bar")
    return [(bar.size["height"], float(bar.get_attribute("data-value"))) for bar in bars] or False


def test_usage_report_chart_renders_in_chromium(browser, live_server, admin_user, usage_rows):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda d: "/admin/login/" not in d.current_url)

    # open the report and submit its form with the defaults (group by day, last 30 days)
    browser.get(f"{live_server.url}/admin/llm/usagelog/report/")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Show]").click()
    WebDriverWait(browser, 15).until(lambda d: "group_by=day" in d.current_url)
    bars = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException]).until(
        _rendered_bars
    )
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "usage-report.png"))

    assert len(bars) == 3  # one bar per day with usage
    heights = [height for height, _ in bars]
    assert all(height > 0 for height in heights), heights  # laid out and drawn by the browser
    # cost per day: day d has d+2 rows costing 0.0012·(d+1) each
    values = sorted(value for _, value in bars)
    assert values == pytest.approx(sorted(0.0012 * (d + 1) * (d + 2) for d in range(3)))
    assert "LLM usage report" in browser.title
    assert (ARTIFACTS / "usage-report.png").stat().st_size > 10_000
