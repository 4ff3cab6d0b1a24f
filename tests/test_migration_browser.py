"""The HTML diff view and the observed-traffic view, rendered by headless Chromium: widening
cells are outlined red, narrowing ones green, and each cell's traffic is shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routeguard import Policy
from routeguard.tools.diff import compare
from routeguard.tools.introspect import list_routes, load_app
from routeguard.tools.matrix import build
from routeguard.tools.matrix_html import render_diff_html, render_html
from routeguard.tools.traffic import overlay, read_log

from .support import headless_chromium
from .test_migration_diff import APP, BASE

pytestmark = pytest.mark.slow


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    with headless_chromium(tmp_path, window="1280,900") as driver:
        yield driver


def test_diff_and_traffic_views_in_chromium(chromium: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    routes = list_routes(load_app(APP))
    old = Policy.from_toml_string(BASE.replace("{c_rule}", 'roles = ["editor"]'), resolve_secrets=False)
    new = Policy.from_toml_string(BASE.replace("{c_rule}", "").replace('roles = ["admin"]', 'roles = ["editor"]'),
                                  resolve_secrets=False)
    changes, _, after = compare(routes, old, new)
    page = tmp_path / "diff.html"
    page.write_text(render_diff_html(changes, after, "old.toml", "new.toml"), encoding="utf-8")
    chromium.get(page.as_uri())
    widen = chromium.find_elements(By.CSS_SELECTOR, "td.cell.widen")
    narrow = chromium.find_elements(By.CSS_SELECTOR, "td.cell.narrow")
    assert len(widen) == sum(c.widens for c in changes) > 0
    assert len(narrow) == sum(not c.widens for c in changes) > 0  # /admin/token: admin loses it
    red = widen[0].value_of_css_property("box-shadow")
    green = narrow[0].value_of_css_property("box-shadow")
    assert "rgb(207, 34, 46)" in red and "rgb(26, 127, 55)" in green
    assert "→" in widen[0].text and widen[0].find_element(By.TAG_NAME, "s").is_displayed()
    assert chromium.execute_script("return performance.getEntriesByType('resource').length") == 0

    log = tmp_path / "d.jsonl"
    log.write_text("\n".join(json.dumps({"method": "POST", "path": "/admin/token", "identity": "authenticated",
                                         "roles": roles, "status": 200}) for roles in (["admin"], [], [])))
    matrix = build(routes, old)
    traffic = overlay([(r.route.path, r.method) for r in matrix.rows], matrix.identities, read_log(log), old)
    page.write_text(render_html(matrix, traffic=traffic), encoding="utf-8")
    chromium.get(page.as_uri())
    row = next(r for r in chromium.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
               if r.find_element(By.CSS_SELECTOR, "td.path").text == "/admin/token")
    cells = dict(zip(matrix.identities, (c.text for c in row.find_elements(By.CSS_SELECTOR, "td.cell")), strict=True))
    assert cells["authenticated"].splitlines() == ["403 deny", "2 seen, 2 would be refused"]
    assert cells["admin"].splitlines() == ["allow", "1 seen"]
    assert cells["editor"].splitlines() == ["403 deny"]
