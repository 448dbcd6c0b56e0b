"""The inspector page in a real headless Chromium, driven by Selenium, against a real local server.

The browser is Debian's `chromium` with its `chromium-driver` (or any Chrome and chromedriver on the
PATH). Without them these tests are skipped, saying so; with CI=true a missing browser fails them
instead, so that CI cannot pass without having run them.

To refresh the documentation's screenshot: `UPDATE_DOCS_IMAGES=1 .venv/bin/pytest
tests/test_inspector_browser.py -k screenshot` copies the one it takes to docs/images/inspector.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from PIL import Image

from trubrics_otel.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
DOCS_IMAGE = ROOT / "docs" / "images" / "inspector.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
T = TypeVar("T")


# --- finding the browser --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Browser:
    """A Chromium and its driver, found on the PATH."""

    binary: str
    driver: str


def find_browser(environ: Mapping[str, str]) -> Browser | str:
    """Return the browser and driver on the PATH of `environ`, or why there is none."""
    path = environ.get("PATH", "")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the dev extra: pip install -e '.[dev]')"
    binary = next((found for name in BROWSERS if (found := shutil.which(name, path=path))), None)
    driver = shutil.which("chromedriver", path=path)
    if binary is None or driver is None:
        missing = " and ".join(
            name for name, found in (("chromium", binary), ("chromedriver", driver)) if not found
        )
        return f"no {missing} on the PATH (Debian: apt-get install chromium chromium-driver)"
    return Browser(binary, driver)


def require_browser(environ: Mapping[str, str]) -> Browser:
    """Return the browser; skip the test when there is none, or fail it when CI=true."""
    found = find_browser(environ)
    if isinstance(found, Browser):
        return found
    if environ.get("CI") == "true":
        pytest.fail(f"CI=true, but the inspector's browser tests cannot run: {found}")
    pytest.skip(f"the inspector's browser tests need a headless Chromium: {found}")


def test_without_a_browser_the_tests_skip_locally_and_fail_in_ci(tmp_path: Path) -> None:
    """An empty PATH skips the browser tests with the reason, except under CI=true, where it fails them."""
    empty = {"PATH": str(tmp_path)}

    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        require_browser(empty)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_browser({**empty, "CI": "true"})


# --- the browser and the page ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the module; each test opens its own server's page in it."""
    browser = require_browser(os.environ)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser.binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(browser.driver))
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
def page(driver: Any, server: LocalServer) -> Iterator[Any]:
    """The browser, its console emptied of earlier tests' messages; the test must log no error there."""
    driver.get("about:blank")
    driver.get_log("browser")
    driver.set_window_size(1280, 900)
    yield driver
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def wait_for(condition: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll `condition` every 50 ms until it returns something true; fail after `timeout` seconds."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.wait import WebDriverWait

    def attempt(_: object) -> T | None:
        try:
            return condition()
        except StaleElementReferenceException:  # the list was rebuilt under us: look again
            return None

    return WebDriverWait(None, timeout, poll_frequency=0.05).until(attempt)


def open_page(driver: Any, server: LocalServer, fragment: str = "") -> None:
    driver.get(f"{server.url}/{fragment}")
    wait_for(lambda: driver.find_element("id", "status").get_attribute("data-state") == "live")


def texts(driver: Any, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements("css selector", selector)]


def totals(driver: Any) -> dict[str, str]:
    return dict(zip(texts(driver, "#totals dt"), texts(driver, "#totals dd"), strict=True))


TIMESTAMP = "2026-11-30T11:54:3{}.000000+00:00"


def llm_event(user: str, prompt: str, second: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "assistant_id": "gpt-4o-mini",
        "prompt": prompt,
        "generation": f"Echo: {prompt}",
        "timestamp": TIMESTAMP.format(second),
        "latency": 0.42,
        **fields,
    }


def event(user: str, name: str, **properties: Any) -> dict[str, Any]:
    return {"user_id": user, "event": name, "timestamp": TIMESTAMP.format(0), "properties": properties}


def publish(
    server: LocalServer, kind: str, items: list[dict[str, Any]], key: str = "test-key"
) -> requests.Response:
    return requests.post(f"{server.url}/publish_{kind}", json=items, headers={"x-api-key": key}, timeout=5)


# --- what the page shows ------------------------------------------------------------------------------------


def test_the_page_renders_the_stored_events(page: Any, server: LocalServer) -> None:
    """LLM events and events stored before the page opened are listed, newest first, with the totals."""
    publish(server, "llm_events", [llm_event("ada", "First question"), llm_event("grace", "Second question")])
    publish(server, "events", [event("ada", "Sign up", plan="pro")])

    open_page(page, server)

    calls = wait_for(
        lambda: texts(page, "#llm-list > li") if len(texts(page, "#llm-list > li")) == 2 else None
    )
    assert "grace" in calls[0]
    assert "Second question" in calls[0]
    assert "First question" in calls[1]
    assert "0.42 s" in calls[1]
    (row,) = texts(page, "#event-rows tr")
    assert "Sign up" in row
    assert "ada" in row
    shown = totals(page)
    assert (shown["LLM events"], shown["Events"], shown["Users"]) == ("2", "1", "2")
    assert "gpt-4o-mini" in texts(page, "#assistant-rows tr")[0]


def test_the_conversation_shows_a_two_turn_thread_in_order(page: Any, server: LocalServer) -> None:
    """A thread's turns read oldest first, by their time, each with assistant, latency, tokens and finish."""
    first = llm_event(
        "ada",
        "What is OpenTelemetry?",
        1,
        properties={"$thread_id": "t-1", "input_tokens": 12, "output_tokens": 30, "finish_reasons": ["stop"]},
    )
    second = llm_event(
        "ada",
        "And the weather in Paris?",
        3,
        generation='get_weather({"city": "Paris"})',
        properties={"$thread_id": "t-1", "finish_reasons": ["tool_calls"]},
    )
    # the second turn arrives first: the conversation still reads in the order the turns happened
    publish(
        server, "llm_events", [second, llm_event("grace", "Elsewhere", 2, properties={"$thread_id": "t-2"})]
    )
    publish(server, "llm_events", [first])
    open_page(page, server)

    thread_button = wait_for(lambda: page.find_element("css selector", '#llm-list button[data-value="t-1"]'))
    thread_button.send_keys("\ue007")  # Enter: the page works from the keyboard

    turns = wait_for(lambda: texts(page, "#turns > li") if len(texts(page, "#turns > li")) == 2 else None)
    assert turns[0].startswith("Turn 1")
    assert "What is OpenTelemetry?" in turns[0]
    assert "gpt-4o-mini · 0.42 s · 12 in / 30 out tokens · finish: stop" in turns[0]
    assert "And the weather in Paris?" in turns[1]
    assert texts(page, "#turns > li:nth-child(2) .tool-calls code") == ['get_weather({"city": "Paris"})']
    assert "Elsewhere" not in page.find_element("id", "conversation").text
    assert page.switch_to.active_element.get_attribute("id") == "conversation-title"
    assert page.execute_script("return location.hash") == "#thread=t-1"


def test_a_filter_narrows_the_lists(page: Any, server: LocalServer) -> None:
    """Choosing a user in the filter lists only that user's items, and the choice is kept in the address."""
    from selenium.webdriver.support.select import Select

    publish(server, "llm_events", [llm_event("ada", "A1"), llm_event("grace", "G1"), llm_event("ada", "A2")])
    publish(server, "events", [event("ada", "Sign up"), event("grace", "Upgrade")])
    open_page(page, server)
    wait_for(lambda: len(texts(page, "#llm-list > li")) == 3)

    Select(page.find_element("id", "filter-user")).select_by_visible_text("grace")

    wait_for(lambda: len(texts(page, "#llm-list > li")) == 1)
    assert "G1" in texts(page, "#llm-list > li")[0]
    assert [row.split()[-1] for row in texts(page, "#event-rows tr")] == ["Upgrade"]
    assert page.execute_script("return location.hash") == "#user=grace"

    page.find_element("id", "clear-filters").click()
    wait_for(lambda: len(texts(page, "#llm-list > li")) == 3)


def test_an_event_posted_while_the_page_is_open_appears_without_reload(
    page: Any, server: LocalServer
) -> None:
    """The page polls: a new LLM event and a new refusal show up, and the page is never reloaded."""
    publish(server, "llm_events", [llm_event("ada", "Before")])
    open_page(page, server)
    wait_for(lambda: len(texts(page, "#llm-list > li")) == 1)
    page.execute_script("window.stillTheSamePage = true")

    publish(server, "llm_events", [llm_event("ada", "After the page opened")])
    publish(server, "events", [event("ada", "Sign up")], key="")

    newest = wait_for(
        lambda: texts(page, "#llm-list > li")[0] if len(texts(page, "#llm-list > li")) == 2 else None
    )
    assert "After the page opened" in newest
    refusal = wait_for(lambda: (texts(page, "#refused-list > li.refusal") or [None])[0])
    assert "401" in refusal
    assert "missing x-api-key" in refusal
    assert page.execute_script("return window.stillTheSamePage") is True


def test_a_hostile_prompt_stays_text(page: Any, server: LocalServer) -> None:
    """Markup in any received value is shown as its characters: nothing is parsed, loaded or run."""
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    publish(
        server,
        "llm_events",
        [llm_event("<b>ada</b>", hostile, properties={"$thread_id": "<i>t</i>"}, generation="<u>x</u>")],
    )
    publish(
        server,
        "events",
        [event("<b>ada</b>", "<em>Sign up</em>", note=hostile, **{"$thread_id": "<i>t</i>"})],
    )
    open_page(page, server, "#thread=%3Ci%3Et%3C%2Fi%3E")

    card = wait_for(lambda: (texts(page, "#llm-list > li") or [None])[0])

    assert hostile in card
    assert "<u>x</u>" in card
    assert "<b>ada</b>" in card
    assert hostile in page.find_element("id", "turns").text
    assert "<em>Sign up</em>" in page.find_element("id", "event-rows").text
    for tag in ("script", "img", "b", "u", "i", "em"):
        assert page.find_elements("css selector", f"main {tag}") == []
    assert page.execute_script("return window.pwned") is None


def test_missing_content_is_marked_with_the_reason_and_the_fix(page: Any, server: LocalServer) -> None:
    """A placeholder prompt and generation are shown as missing, with the setting to change and the check."""
    placeholder = "[content not recorded]"
    publish(server, "llm_events", [llm_event("ada", placeholder, generation=placeholder)])
    open_page(page, server)

    note = wait_for(lambda: (texts(page, "#llm-list .message.missing") or [None])[0])

    assert note.startswith("PROMPT AND GENERATION NOT RECORDED")
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY" in note
    assert "trubrics-otel check" in note
    assert page.find_elements("css selector", "#llm-list .message.prompt") == []
    assert totals(page)["Without content"] == "1"


def test_a_refused_payload_shows_why(page: Any, server: LocalServer) -> None:
    """An invalid item's refusal names the item, the field and the API's message."""
    assert publish(server, "events", [event("ada", "Sign up"), {"event": "No user"}]).status_code == 422
    open_page(page, server)

    refusal = wait_for(lambda: (texts(page, "#refused-list > li.refusal") or [None])[0])

    assert "422" in refusal
    assert "1 of 2 items invalid" in refusal
    assert "item 1, user_id: Field required" in refusal
    assert "item 1, timestamp: Field required" in refusal


def test_at_phone_width_nothing_runs_off_the_screen(page: Any, server: LocalServer) -> None:
    """At 375 CSS pixels the page fits the screen's width, long texts and tables included."""
    long_word = "x" * 300
    publish(server, "llm_events", [llm_event("ada", long_word, properties={"$thread_id": long_word})])
    publish(server, "events", [event("ada", "Sign up", note=long_word)])
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        open_page(page, server)
        wait_for(lambda: len(texts(page, "#llm-list > li")) == 1)

        widths = page.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    assert widths[0] <= widths[1]


# --- the screenshot -----------------------------------------------------------------------------------------


def test_the_screenshot_of_a_session_shows_content(page: Any, server: LocalServer, tmp_path: Path) -> None:
    """A screenshot of the page during a session is not one flat colour; the DOM holds the session."""
    publish(
        server,
        "llm_events",
        [
            llm_event(
                "ada",
                "What is OpenTelemetry?",
                1,
                generation="An open standard for traces, metrics and logs.",
                properties={
                    "$thread_id": "thread-ada-1",
                    "input_tokens": 12,
                    "output_tokens": 30,
                    "finish_reasons": ["stop"],
                },
            ),
            llm_event(
                "ada",
                "What's the weather in Paris?",
                3,
                generation='get_weather({"city": "Paris"})',
                latency=0.61,
                properties={
                    "$thread_id": "thread-ada-1",
                    "input_tokens": 40,
                    "output_tokens": 12,
                    "finish_reasons": ["tool_calls"],
                },
            ),
            llm_event(
                "grace",
                "[content not recorded]",
                4,
                assistant_id="claude-sonnet-4",
                generation="[content not recorded]",
                latency=1.3,
                properties={"$thread_id": "thread-grace-1"},
            ),
        ],
    )
    publish(server, "events", [event("ada", "Sign up", plan="pro"), event("grace", "Upgrade", plan="team")])
    publish(server, "events", [event("grace", "Upgrade", plan="team")], key="")
    page.set_window_size(1280, 1200)
    open_page(page, server, "#thread=thread-ada-1")
    wait_for(
        lambda: len(texts(page, "#turns > li")) == 2 and len(texts(page, "#refused-list > li.refusal")) == 1
    )
    shot = tmp_path / "inspector.png"

    assert page.save_screenshot(str(shot))

    with Image.open(shot) as image:
        size = image.size
        colours = image.convert("RGB").getcolors(maxcolors=size[0] * size[1])
    assert size == (1280, page.execute_script("return window.innerHeight"))
    assert max(count for count, _ in colours) < 0.9 * size[0] * size[1], (
        "the page is (almost) one flat colour"
    )
    assert len(colours) > 50
    if os.environ.get("UPDATE_DOCS_IMAGES") == "1":
        shutil.copyfile(shot, DOCS_IMAGE)


def test_the_flat_colour_check_would_catch_an_empty_page(tmp_path: Path) -> None:
    """The screenshot's check counts one colour in a blank image, which its threshold refuses."""
    blank = tmp_path / "blank.png"
    Image.new("RGB", (1280, 900), (245, 246, 248)).save(blank)

    with Image.open(blank) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1280 * 900)

    assert colours == [(1280 * 900, (245, 246, 248))]


# --- a server that needs a key to read ---------------------------------------------------------------------


def test_the_page_asks_for_the_key_once_and_keeps_it_in_the_tab(driver: Any) -> None:
    """A server that needs a key to read: the page asks for it, says when it is refused, then shows it all."""
    with LocalServer(api_keys={"the-key"}, key_for_reads=True) as locked:
        publish(locked, "events", [event("ada", "Sign up")], key="the-key")
        driver.get("about:blank")
        driver.get_log("browser")
        driver.get(f"{locked.url}/")
        driver.execute_script("window.sessionStorage.clear()")
        driver.refresh()
        form = wait_for(lambda: (found := driver.find_element("id", "key-form")).is_displayed() and found)
        assert driver.find_element("id", "status").get_attribute("data-state") == "locked"
        assert not driver.find_element("id", "key-refused").is_displayed()

        driver.find_element("id", "key-input").send_keys("a-wrong-key")
        driver.find_element("id", "key-submit").click()
        wait_for(lambda: driver.find_element("id", "key-refused").is_displayed())

        driver.find_element("id", "key-input").send_keys("the-key")
        driver.find_element("id", "key-submit").click()
        wait_for(lambda: driver.find_element("id", "status").get_attribute("data-state") == "live")
        assert not form.is_displayed()
        wait_for(lambda: texts(driver, "#event-rows tr"))
        assert "Sign up" in texts(driver, "#event-rows tr")[0]

        driver.refresh()  # the key is kept in the tab: no asking again
        wait_for(lambda: driver.find_element("id", "status").get_attribute("data-state") == "live")
        assert not driver.find_element("id", "key-form").is_displayed()
        driver.execute_script("window.sessionStorage.clear()")
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    # a refused read is logged by the browser itself; nothing else may be
    assert [message for message in errors if "401" not in message] == []


def test_items_de_duplicated_by_key_are_listed_by_key(page: Any, server: LocalServer) -> None:
    """A retry the server did not store again is listed under 'Received twice' with its key and copies."""
    keyed = event("ada", "Sign up", **{"$idempotency_key": "key-0001"})
    publish(server, "events", [keyed])
    publish(server, "events", [keyed])

    open_page(page, server)

    wait_for(lambda: "key-0001" in " ".join(texts(page, "#dedup-list li")))
    listed = texts(page, "#dedup-list li")
    assert listed[0] == "1 copy acknowledged, not stored again."
    assert "2 copies, stored once" in listed[1]
    assert texts(page, "#repeat-list li") == ["Nothing was stored twice."]
    assert totals(page)["De-duplicated"] == "1"
