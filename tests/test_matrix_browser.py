"""The HTML permission matrix rendered by headless Chromium: it must look like what it says.

Renders the FastAPI example's matrix, checks the page in the browser (rows, colours,
default-deny badges, no network request at all) and saves the screenshot the README shows
(docs/matrix.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routeguard import Policy
from routeguard.tools.introspect import list_routes, load_app
from routeguard.tools.matrix import build
from routeguard.tools.matrix_html import render_html

from .support import headless_chromium

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "matrix.png"
@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium with its own profile directory, always quit afterwards."""
    with headless_chromium(tmp_path, window="1280,900") as driver:
        yield driver


def _rgb(value: str) -> tuple[int, int, int]:
    parts = value[value.index("(") + 1: value.index(")")].split(",")
    r, g, b = (int(float(p)) for p in parts[:3])
    return r, g, b


def test_html_matrix_in_chromium(chromium: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    policy = Policy.from_toml(ROOT / "examples/fastapi_app/routeguard.toml", resolve_secrets=False)
    matrix = build(list_routes(load_app("examples.fastapi_app.app:app")), policy,
                   app="examples.fastapi_app.app:app", source="examples/fastapi_app/routeguard.toml")
    page = tmp_path / "matrix.html"
    page.write_text(render_html(matrix), encoding="utf-8")
    chromium.get(page.as_uri())

    rows = chromium.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    assert len(rows) == len(matrix.rows)
    headers = [th.text for th in chromium.find_elements(By.CSS_SELECTOR, "#matrix thead th.id")]
    assert headers == list(matrix.identities)

    denied = chromium.find_elements(By.CSS_SELECTOR, "#matrix tbody tr.dd")
    assert len(denied) == len(matrix.default_deny_rows) > 0
    for row in denied:
        badge = row.find_element(By.CSS_SELECTOR, ".badge")
        assert badge.is_displayed() and badge.text == "DEFAULT DENY"

    allow = _rgb(chromium.find_element(By.CSS_SELECTOR, "td.cell.allow").value_of_css_property("background-color"))
    deny = _rgb(chromium.find_element(By.CSS_SELECTOR, "td.cell.deny").value_of_css_property("background-color"))
    login = _rgb(chromium.find_element(By.CSS_SELECTOR, "td.cell.login").value_of_css_property("background-color"))
    assert allow[1] > allow[0] and allow[1] > allow[2]  # green
    assert deny[0] > deny[1] and deny[0] > deny[2]  # red
    assert login[2] > login[0]  # blue
    admin_row = next(r for r in rows if r.find_element(By.CSS_SELECTOR, "td.path").text == "/admin/users")
    assert [c.get_attribute("data-label") for c in admin_row.find_elements(By.CSS_SELECTOR, "td.cell")] == [
        "login", "deny", "allow"]

    # Self-contained: the page loaded nothing besides itself.
    assert chromium.execute_script("return performance.getEntriesByType('resource').length") == 0

    height = chromium.execute_script("return document.documentElement.scrollHeight")
    width = chromium.execute_script("return document.documentElement.scrollWidth")
    chromium.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                             {"width": max(1280, width), "height": height, "deviceScaleFactor": 1, "mobile": False})
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert chromium.save_screenshot(str(SCREENSHOT))
    data = SCREENSHOT.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
