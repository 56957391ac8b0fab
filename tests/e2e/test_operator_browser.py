"""The operator's pages in headless Chromium at 1400x1000, on the keyless demo data: the overview,
memory search, the usage log list, the agent form, the token list and the report with missing
parameters. Each saves a screenshot under test-artifacts/ and checks its key elements are there
and visible without horizontal scrolling."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from daarion.agents.models import ServiceToken
from daarion.agents.services import service_token_assign_secret, service_token_revoke
from llm.models import UsageLog
from llm.usage import usage_flush

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTH = 1400


@pytest.fixture
def demo(monkeypatch):
    for name in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "OLLAMA_BASE_URL", "ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADMIN_PASSWORD", "password")
    call_command("bootstrap_demo", stdout=io.StringIO())
    now = timezone.now()
    rows = []
    for i in range(30):
        failed = i % 7 == 0
        fallback = i % 5 == 0
        attempts = [{"provider": "offline", "outcome": "ok", "latency_ms": 3}]
        if fallback:
            attempts.insert(0, {"provider": "openai", "outcome": "timeout", "detail": "timed out"})
        rows.append(
            UsageLog(
                created_at=now - dt.timedelta(minutes=37 * i),
                request_id=f"req-{i:04d}-0123456789abcdef0123456789abcdef",
                agent_id="agent:sofia",
                microdao_id="microdao:daarion",
                model="sofia-default",
                provider="" if failed else "offline",
                physical_model="" if failed else "offline-chat",
                attempts=attempts,
                attempt_count=len(attempts),
                fallback_used=fallback,
                prompt_tokens=120,
                completion_tokens=40,
                total_tokens=160,
                latency_ms=35.5 + i * 11,
                cost_usd=Decimal("0.73125") if not failed else Decimal(0),
                status="error" if failed else "ok",
                error_type="all_targets_failed" if failed else "",
                error_message="All targets of model 'sofia-default' failed" if failed else "",
            )
        )
    UsageLog.objects.bulk_create(rows)
    yield
    usage_flush()


def _login(driver, base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys("password")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/admin/login/" not in d.current_url)


def _open(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def _visible_in_viewport(driver, element) -> bool:
    """Displayed and actually on screen: inside the 1400 px viewport, and the topmost element at
    its centre is itself or inside it (so not clipped by a scrolling table or covered)."""
    if not element.is_displayed():
        return False
    script = """
        const el = arguments[0];
        const r = el.getBoundingClientRect();
        if (r.width <= 0 || r.height <= 0) return false;
        if (r.left < 0 || r.right > window.innerWidth) return false;
        const y = r.top + Math.min(r.height / 2, 8);
        const hit = document.elementFromPoint(r.left + r.width / 2, y);
        return hit !== null && (hit === el || el.contains(hit));
    """
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})", element
    )
    return bool(driver.execute_script(script, element))


def _no_horizontal_scroll(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth") <= WIDTH


def test_overview_in_chromium(chromium_1400, live_server, demo):
    from selenium.webdriver.common.by import By

    driver = chromium_1400
    _login(driver, live_server.url)
    _open(driver, f"{live_server.url}/admin/")
    view_site = (
        driver.find_element(By.LINK_TEXT, "VIEW SITE")
        if driver.find_elements(By.LINK_TEXT, "VIEW SITE")
        else driver.find_element(By.PARTIAL_LINK_TEXT, "View site")
    )
    assert view_site.get_attribute("href").endswith("/admin/overview/")
    driver.find_element(By.CSS_SELECTOR, "#overview-link a").click()
    _open(driver, f"{live_server.url}/admin/overview/")
    _shot(driver, "overview")

    bars = driver.find_elements(By.CSS_SELECTOR, "svg.overview-chart rect.req")
    assert len(bars) == 25 and sum(b.size["height"] > 0 for b in bars) >= 10
    assert driver.find_elements(By.CSS_SELECTOR, "svg.overview-chart rect.err")
    assert driver.find_element(By.CSS_SELECTOR, "svg.overview-chart polyline.latency")
    budget = driver.find_element(By.CSS_SELECTOR, 'tr.budget-row[data-microdao="microdao:daarion"]')
    assert _visible_in_viewport(driver, budget)
    assert "$50.00" in budget.text and "%" in budget.text
    offline = driver.find_element(By.CSS_SELECTOR, 'tr.provider-row[data-provider="offline"]')
    assert _visible_in_viewport(driver, offline)
    assert "ok" in offline.text and "ago" in offline.text  # live state, not "unknown"
    assert _visible_in_viewport(driver, driver.find_element(By.ID, "pending-embeddings"))
    assert driver.find_elements(By.CSS_SELECTOR, "tr.top-agent a")
    assert _no_horizontal_scroll(driver)

    # a number leads to the filtered list behind it
    driver.find_element(By.CSS_SELECTOR, "#ov-traffic a.ov-kpi[style]").click()
    _open(driver, driver.current_url)
    assert "status__exact=error" in driver.current_url
    assert "5 results" in driver.find_element(By.CSS_SELECTOR, ".paginator").text or (
        len(driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 5
    )


def test_memory_search_in_the_demo_in_chromium(chromium_1400, live_server, demo):
    from selenium.webdriver.common.by import By

    driver = chromium_1400
    _login(driver, live_server.url)
    _open(driver, f"{live_server.url}/admin/memory/memory/")
    chooser = driver.find_element(By.ID, "changelist-filter")
    assert "microdao" in chooser.text.lower() and "DAARION" in chooser.text  # one microDAO, shown
    box = driver.find_element(By.ID, "searchbar")
    box.send_keys("проєкт X")
    box.submit()
    _open(driver, driver.current_url)
    _shot(driver, "memory-search")
    assert not driver.find_elements(By.CSS_SELECTOR, ".messagelist .warning")
    rows = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert rows, "the demo's memories about project X"
    first_text = rows[0].find_element(By.CSS_SELECTOR, ".memory-text")
    assert _visible_in_viewport(driver, first_text)
    assert "X" in first_text.text
    score = rows[0].find_element(By.CSS_SELECTOR, "td.field-score").text
    assert 0 < float(score) <= 1
    assert _no_horizontal_scroll(driver)


def test_usage_log_list_is_readable_at_1400px(chromium_1400, live_server, demo):
    from selenium.webdriver.common.by import By

    driver = chromium_1400
    _login(driver, live_server.url)
    _open(driver, f"{live_server.url}/admin/llm/usagelog/")
    _shot(driver, "usage-log")
    for column in ("status_label", "cost", "latency", "fallback_used"):
        header = driver.find_element(By.CSS_SELECTOR, f"#result_list th.column-{column}")
        assert _visible_in_viewport(driver, header), column
    error_cell = driver.find_element(
        By.XPATH, "//td[contains(@class,'field-status_label')][contains(., 'error')]"
    )
    assert _visible_in_viewport(driver, error_cell)
    assert _no_horizontal_scroll(driver)


def test_agent_form_tokens_and_report_defaults_in_chromium(chromium_1400, live_server, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chromium_1400
    _login(driver, live_server.url)

    _open(driver, f"{live_server.url}/admin/agents/agent/agent:sofia/change/")
    select = Select(driver.find_element(By.ID, "id_default_model"))
    options = [o.get_attribute("value") for o in select.options]
    assert "sofia-default" in options and "offline-embed" not in options  # chat routes only
    assert select.first_selected_option.get_attribute("value") == "sofia-default"
    _shot(driver, "agent-form")

    active, revoked = (
        ServiceToken(name="active-token", scopes=["llm"]),
        ServiceToken(name="old", scopes=["llm"]),
    )
    for token in (active, revoked):
        service_token_assign_secret(token=token)
        token.save()
    service_token_revoke(token=revoked)
    _open(driver, f"{live_server.url}/admin/agents/servicetoken/")
    _shot(driver, "service-tokens")
    statuses = [
        c.text for c in driver.find_elements(By.CSS_SELECTOR, "#result_list td.field-status")
    ]
    assert sorted(s.split()[0] for s in statuses) == ["active", "revoked"]

    _open(driver, f"{live_server.url}/admin/llm/usagelog/report/?group_by=&chart=requests")
    _shot(driver, "usage-report-defaults")
    page = driver.find_element(By.ID, "content").text
    assert "This field is required" not in page
    assert "No usage in this period" not in page
    assert driver.find_elements(By.CSS_SELECTOR, "svg.usage-chart rect.bar")
