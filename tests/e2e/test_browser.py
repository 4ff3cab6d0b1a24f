"""The login flow in a real browser: headless Chromium (Debian's chromium + chromium-driver,
driven by selenium) against the FastAPI example under uvicorn and the Flask example under
gunicorn. Every step leaves a screenshot under test-artifacts/e2e/<test>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support import headless_chromium
from .servers import Server

pytestmark = pytest.mark.slow

@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium (new profile directory), always quit afterwards."""
    with headless_chromium(tmp_path, window="1000,720") as driver:
        yield driver


class Steps:
    """Numbered screenshots of one flow."""

    def __init__(self, driver: Any, directory: Path) -> None:
        self.driver, self.directory, self.n = driver, directory, 0

    def shot(self, name: str) -> None:
        self.n += 1
        path = self.directory / f"{self.n:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path)), f"screenshot {path} not written"


FETCH = """
const [url, accept, done] = arguments;
fetch(url, {headers: {"Accept": accept}, credentials: "same-origin"}).then(async (r) => {
  const result = {status: r.status, redirected: r.redirected, url: r.url,
                  contentType: r.headers.get("content-type"), challenge: r.headers.get("www-authenticate"),
                  body: await r.text()};
  const pre = document.createElement("pre");
  pre.style.whiteSpace = "pre-wrap";
  pre.textContent = "fetch(" + url + ", Accept: " + accept + ") -> " +
    JSON.stringify({...result, body: result.body.slice(0, 60)}, null, 1);
  document.body.appendChild(pre);
  done(result);
}, (e) => done({error: String(e)}));
"""


def fetch(driver: Any, url: str, accept: str = "application/json") -> dict[str, Any]:
    return driver.execute_async_script(FETCH, url, accept)  # type: ignore[no-any-return]


def test_login_flow_in_chromium(server: Server, browser: Any, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base = server.url
    wait = WebDriverWait(browser, 10)
    steps = Steps(browser, artifacts)
    login_page = base + "/login?next=%2Fdashboard"

    # 1. A protected page sends an anonymous browser to the login page, remembering where it was.
    browser.get(base + "/dashboard")
    wait.until(ec.url_to_be(login_page))
    assert browser.find_element(By.ID, "username").is_displayed()
    steps.shot("dashboard-redirects-to-login")

    # 2. Submit the form: back on /dashboard through `next`, signed in.
    browser.find_element(By.ID, "username").send_keys("bob")  # bob: the user the logout tests sign out
    browser.find_element(By.ID, "password").send_keys("bob-pass")
    steps.shot("login-form-filled")
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.url_to_be(base + "/dashboard"))
    assert browser.find_element(By.ID, "who").text == "Hello bob."
    assert browser.get_cookie("session") is not None
    steps.shot("dashboard-after-login")

    # 3. The admin area refuses bob with the guard's HTML 403 page (no redirect, no admin content).
    browser.get(base + "/admin")
    wait.until(ec.title_is("403 Forbidden"))
    assert browser.current_url == base + "/admin"
    assert browser.find_element(By.TAG_NAME, "h1").text == "403 Forbidden"
    assert not browser.find_elements(By.ID, "admin")
    same = fetch(browser, "/admin", "text/html")
    assert same["status"] == 403 and same["contentType"].startswith("text/html"), same
    steps.shot("admin-forbidden-html-403")

    # 4. Sign out: the session is revoked and the browser lands on the login page.
    browser.get(base + "/dashboard")
    browser.find_element(By.ID, "logout").click()
    wait.until(ec.url_to_be(base + "/login"))
    assert browser.get_cookie("session") is None
    steps.shot("signed-out")

    # 5. The protected page redirects to the login page again.
    browser.get(base + "/dashboard")
    wait.until(ec.url_to_be(login_page))
    steps.shot("dashboard-redirects-again")

    # 6. A fetch() asking for JSON gets the JSON 401, not a redirect to an HTML login page.
    for url in ("/dashboard", "/api/me"):
        result = fetch(browser, url)
        assert result["status"] == 401, result
        assert result["redirected"] is False, result
        assert result["contentType"] == "application/json", result
        assert result["challenge"] == "Bearer", result
        assert result["body"] == '{"error": "Unauthorized"}', result
    steps.shot("fetch-json-401")
    assert len(list(artifacts.glob("*.png"))) == steps.n == 7


# "{evil}" is another origin on loopback (127.0.0.2, where nothing listens): if a redirect ever
# left the site, the browser would still never leave the machine.
HOSTILE_NEXT = ["//{evil}/", "/\\{evil}/", "/%2F%2F{evil}/", "http://{evil}/", "/%09/{evil}/", "/.//{evil}/",
                "///{evil}/", "javascript:alert(1)"]


def test_login_next_never_leaves_the_site_in_chromium(server: Server, browser: Any, artifacts: Path) -> None:
    """Whatever `next` the login page is given, the browser ends up on this origin after signing in."""
    from urllib.parse import quote, urlsplit

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    origin = urlsplit(server.url).netloc
    landed = {}
    for value in (template.format(evil=f"127.0.0.2:{server.port}") for template in HOSTILE_NEXT):
        browser.delete_all_cookies()
        browser.get(f"{server.url}/login?next={quote(value, safe='')}")
        browser.find_element(By.ID, "username").send_keys("bob")
        browser.find_element(By.ID, "password").send_keys("bob-pass")
        form_page = browser.current_url
        browser.find_element(By.ID, "submit").click()
        WebDriverWait(browser, 10).until(ec.url_changes(form_page))
        landed[value] = browser.current_url
    browser.save_screenshot(str(artifacts / "last-hostile-next.png"))
    assert all(urlsplit(url).netloc == origin for url in landed.values()), landed
