"""The web interface in a real browser (headless Chromium driven by Selenium) against a real
server with real SIPp phones.

An admin logs in. Queue ``help`` (510) has two agents, both paused. A SIPp caller rings
the queue: the live panel, loaded before the call, shows them waiting. The admin
unpauses agent 11 from the tile's menu; the agent's SIPp phone answers and the tile
turns to "on a call" with the caller, without the page being reloaded. The
answered-calls report then lists the call, and its recording plays in the row's
player. An agent pauses and plays their voicemail on their own page. Screenshots of
the live panel, the report and the agent's page are kept in ``test-artifacts/`` (or
``$RINGFORT_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from callkit import CallServer, call_server, finish, start_callee, start_caller
from harness import ServerFactory, require_tool
from peers import RingfortServer, Sipp, wait_until

pytestmark = pytest.mark.peers

AGENT_PHONE, OTHER_PHONE, CALLER = "4611", "4612", "4711"
PASSWORD = "browser test admin"
ARTIFACTS = Path(
    os.environ.get("RINGFORT_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "test-artifacts"
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium with the DevTools log on, closed after the test."""
    chromium = require_tool("chromium")
    driver_path = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def call_centre(ringfort_factory: ServerFactory) -> CallServer:
    setup = call_server(
        ringfort_factory, [AGENT_PHONE, OTHER_PHONE, CALLER], name="web", size=40,
        media__rtp_timeout="0",
    )  # fmt: skip
    cli = setup.server.cli
    cli("user", "add", "ann", "--role", "admin", "--password", PASSWORD)
    cli("user", "add", "ada", "--role", "agent", "--password", PASSWORD,
        "--agent", "11", "--extension", AGENT_PHONE)  # fmt: skip
    cli("queue", "add", "help", "--number", "510", "--ring-timeout", "15", "--wrapup", "0")
    cli("recording", "rule", "add", "--extension", AGENT_PHONE)  # agent 11's calls are recorded
    for agent, name, phone in (("11", "Gleb", AGENT_PHONE), ("12", "Vera", OTHER_PHONE)):
        cli("agent", "add", "--number", agent, "--name", name, "--pin", f"{agent}{agent}")
        cli("queue", "add-agent", "help", "--agent", agent, "--phone", phone)
        cli("queue", "pause", "help", "--agent", agent, "--reason", "meeting")
    return setup


def wait_for(driver: object, condition: object, timeout: float = 15.0, what: str = "") -> object:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The pages redraw what they show as updates arrive: an element found a moment ago
    # may be gone, and the next poll finds its successor.
    waiting = WebDriverWait(
        driver,  # type: ignore[arg-type]
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(StaleElementReferenceException,),
    )
    try:
        return waiting.until(condition)  # type: ignore[arg-type]
    except Exception as error:
        logs = "\n".join(str(entry) for entry in driver.get_log("browser"))  # type: ignore[attr-defined]
        pytest.fail(f"waited for {what}: {error!r}\nbrowser log:\n{logs}")


def css(driver: object, selector: str) -> list[object]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)  # type: ignore[attr-defined, no-any-return]


def screenshot(driver: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000, "the screenshot is empty"
    return path


def test_a_supervisor_watches_a_caller_wait_and_get_answered(
    browser: object, call_centre: CallServer, sipp: Sipp
) -> None:
    driver = browser
    server = call_centre.server
    driver.get(f"{server.http_url}/ui/live")  # type: ignore[attr-defined]
    # Not logged in: the page sends the browser to the login, which comes back after.
    wait_for(driver, lambda d: "/ui/login" in d.current_url, what="the login page")
    wait_for(driver, lambda d: css(d, "#username"), what="the login form")
    css(driver, "#username")[0].send_keys("ann")  # type: ignore[attr-defined]
    css(driver, "#password")[0].send_keys(PASSWORD)  # type: ignore[attr-defined]
    css(driver, "button[type=submit]")[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: d.current_url.endswith("/ui/live"), what="the live panel")
    wait_for(driver, lambda d: css(d, '[data-queue="help"]'), what="the queue's tile")
    wait_for(driver, lambda d: css(d, '[data-agent="11"][data-state="paused"]'), what="agent 11")
    page_id = driver.execute_script("return window.performance.timeOrigin")  # type: ignore[attr-defined]

    agent_phone = start_callee(sipp, server, AGENT_PHONE, "uas_answer.xml", time_limit=60)
    caller = start_caller(
        sipp, server, CALLER, "510", "call_hangup.xml", talk_ms=14_000, time_limit=60
    )
    try:
        wait_for(
            driver,
            lambda d: (
                css(d, '[data-queue="help"][data-waiting="1"]')
                and css(d, f'[data-queue="help"] [data-caller="{CALLER}"]')
            ),
            what="the caller waiting in the queue's tile",
        )
        screenshot(driver, "live-panel-waiting.png")
        # Unpause agent 11 from the tile's menu.
        css(driver, '[data-agent="11"] .menu-button')[0].click()  # type: ignore[attr-defined]
        unpause = [
            button
            for button in css(driver, '[data-agent="11"] .menu.open button')
            if button.text.strip() == "Unpause"  # type: ignore[attr-defined]
        ]
        assert unpause, "no Unpause in agent 11's menu"
        unpause[0].click()  # type: ignore[attr-defined]
        wait_for(
            driver,
            lambda d: css(d, '[data-agent="11"][data-state="on-call"] .current-caller'),
            timeout=20,
            what="agent 11 on the call",
        )
        wait_for(
            driver,
            lambda d: CALLER in css(d, '[data-agent="11"]')[0].text,
            what="the caller on agent 11's tile",
        )
        assert css(driver, '[data-queue="help"][data-waiting="0"]')
        # The same page all along: no reload.
        assert driver.execute_script("return window.performance.timeOrigin") == page_id  # type: ignore[attr-defined]
        screenshot(driver, "live-panel-on-call.png")
        finish(caller, agent_phone)
    finally:
        caller.stop()
        agent_phone.stop()

    driver.get(f"{server.http_url}/ui/reports?report=answered")  # type: ignore[attr-defined]
    wait_for(
        driver,
        lambda d: any(CALLER in row.text for row in css(d, "#report-table tbody tr")),
        what="the call in the answered report",
    )
    row = next(r for r in css(driver, "#report-table tbody tr") if CALLER in r.text)  # type: ignore[attr-defined]
    assert "Gleb" in row.text  # type: ignore[attr-defined]
    # The call was recorded: its player loads the recording (200/206, and it has a length).
    assert_plays(driver, "#report-table audio[data-recording]")
    assert css(driver, "#totals")
    shot = screenshot(driver, "report-answered.png")
    assert shot.exists()
    errors = [
        entry
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if entry["level"] == "SEVERE" and entry["source"] == "javascript"
    ]
    assert errors == [], errors


def assert_plays(driver: object, selector: str) -> None:
    """The player ``selector`` finds loads its audio: the server answers 200 (or 206 for a
    range) and the browser reads a length above zero."""
    wait_for(driver, lambda d: css(d, selector), what=f"the player {selector}")
    status = driver.execute_async_script(  # type: ignore[attr-defined]
        "const done = arguments[arguments.length - 1];"
        f"const audio = document.querySelector({json.dumps(selector)});"
        "fetch(audio.src).then((r) => done(r.status)).catch((e) => done(String(e)));"
    )
    assert status in (200, 206), status
    wait_for(
        driver,
        lambda d: d.execute_script(
            f"const a = document.querySelector({json.dumps(selector)});"
            "if (a.readyState < 1) a.load();"
            "return a.readyState >= 1 && a.duration > 0;"
        ),
        what=f"the audio of {selector} to load",
    )


def log_in(driver: object, server: RingfortServer, username: str) -> None:
    driver.get(f"{server.http_url}/ui/login")  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#username"), what="the login form")
    css(driver, "#username")[0].send_keys(username)  # type: ignore[attr-defined]
    css(driver, "#password")[0].send_keys(PASSWORD)  # type: ignore[attr-defined]
    css(driver, "button[type=submit]")[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: "/ui/login" not in d.current_url, what="the login")


def test_an_agent_pauses_and_plays_their_voicemail(
    browser: object, call_centre: CallServer, sipp: Sipp
) -> None:
    driver = browser
    server = call_centre.server
    # A message for the agent's extension (no phone registered: straight to the mailbox).
    token = server.cli("user", "token", "ann", "--name", "test").stdout.strip()
    request = urllib.request.Request(
        f"{server.http_url}/api/v1/voicemail/mailboxes/{AGENT_PHONE}",
        data=json.dumps({"enabled": True}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=5) as reply:  # in force for the next call
        assert reply.status == 200
    caller = start_caller(
        sipp, server, CALLER, AGENT_PHONE, "call_hangup.xml", talk_ms=16_000, time_limit=40
    )
    finish(caller)
    wait_until(
        lambda: json.loads(server.cli("voicemail", "list", AGENT_PHONE, "--json").stdout),
        timeout=10,
        what="the message",
    )

    log_in(driver, server, "ada")
    wait_for(driver, lambda d: d.current_url.endswith("/ui/agent"), what="the agent's page")
    wait_for(driver, lambda d: css(d, '[data-my-queue="help"]'), what="the agent's queue")
    wait_for(
        driver,
        lambda d: "paused" in css(d, '[data-my-queue="help"]')[0].text,
        what="the agent paused (by the supervisor's CLI)",
    )
    css(driver, "#unpause-button")[0].click()  # type: ignore[attr-defined]
    wait_for(
        driver,
        lambda d: "taking calls" in css(d, '[data-my-queue="help"]')[0].text,
        what="the agent available",
    )
    css(driver, "#pause-button")[0].click()  # type: ignore[attr-defined]  (reason: lunch)
    wait_for(
        driver,
        lambda d: "paused (lunch)" in css(d, '[data-my-queue="help"]')[0].text,
        what="the pause with its reason",
    )
    wait_for(driver, lambda d: css(d, "#my-voicemail audio"), what="the voicemail's player")
    wait_for(driver, lambda d: any(CALLER in row.text for row in css(d, "#my-calls tbody tr")),
             what="the call in my calls")  # fmt: skip
    assert_plays(driver, "#my-voicemail audio")

    # Their phone's forwarding: a number nobody has is refused under its field, then
    # do-not-disturb with a busy forward to the other agent's phone is saved.
    wait_for(driver, lambda d: css(d, "#forwarding:not([hidden]) #fwd-busy"), what="the form")
    busy = css(driver, "#fwd-busy")[0]
    busy.send_keys("999")  # type: ignore[attr-defined]
    css(driver, "#forwarding button[type=submit]")[0].click()  # type: ignore[attr-defined]
    wait_for(
        driver,
        lambda d: "nobody's number" in css(d, "#fwd-error-busy")[0].text,
        what="the forward's error under its field",
    )
    busy.clear()  # type: ignore[attr-defined]
    busy.send_keys(OTHER_PHONE)  # type: ignore[attr-defined]
    css(driver, "#fwd-dnd")[0].click()  # type: ignore[attr-defined]
    css(driver, "#forwarding button[type=submit]")[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#fwd-saved:not([hidden])"), what="saved")
    shown = server.cli("extension", "forward", AGENT_PHONE).stdout
    assert f"dnd, busy {OTHER_PHONE}" in shown, shown
    screenshot(driver, "agent-page.png")


def test_the_login_page_says_what_is_wrong(browser: object, call_centre: CallServer) -> None:
    driver = browser
    server = call_centre.server
    driver.get(f"{server.http_url}/ui/login")  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#username"), what="the login form")
    css(driver, "#username")[0].send_keys("ann")  # type: ignore[attr-defined]
    css(driver, "#password")[0].send_keys("not the password")  # type: ignore[attr-defined]
    css(driver, "button[type=submit]")[0].click()  # type: ignore[attr-defined]
    wait_for(
        driver,
        lambda d: css(d, "#problem") and not css(d, "#problem")[0].get_attribute("hidden"),
        what="the login's error",
    )
    assert css(driver, "#problem")[0].text == "Wrong username or password."  # type: ignore[attr-defined]
    assert driver.current_url.endswith("/ui/login")  # type: ignore[attr-defined]


def fill(driver: object, values: dict[str, str]) -> None:
    """Type ``values`` into the open form's fields and save it."""
    for name, value in values.items():
        box = css(driver, f"#object-form [name={name}]")[0]
        box.clear()  # type: ignore[attr-defined]
        box.send_keys(value)  # type: ignore[attr-defined]
    css(driver, "#object-form button[type=submit]")[0].click()  # type: ignore[attr-defined]


def test_an_admin_sets_up_an_extension_and_a_queue_with_two_agents(
    browser: object, call_centre: CallServer
) -> None:
    driver = browser
    server = call_centre.server
    log_in(driver, server, "ann")
    driver.get(f"{server.http_url}/ui/admin?resource=extensions")  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#objects"), what="the extensions")
    css(driver, "#add")[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#object-form [name=number]"), what="the form")
    fill(driver, {"number": "12a", "name": "Reception"})
    wait_for(
        driver,
        lambda d: "digits" in css(d, "#error-number")[0].text,
        what="the number's error under its field",
    )
    fill(driver, {"number": "4650"})
    wait_for(driver, lambda d: css(d, '#objects tr[data-key="4650"]'), what="the new extension")
    notice = css(driver, "#notice")[0].text  # type: ignore[attr-defined]
    assert re.search(r"password.*: [A-Za-z0-9]{16,}$", notice), notice

    # Its forwarding, in a form of its own: a number nobody has is refused under its field,
    # then the queue's number is taken; an emptied forward is switched off again.
    css(driver, '[data-forwarding="4650"]')[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#object-form [name=busy]"), what="the forwarding form")
    fill(driver, {"busy": "999"})
    wait_for(
        driver,
        lambda d: "nobody's number" in css(d, "#error-busy")[0].text,
        what="the forward's error under its field",
    )
    fill(driver, {"busy": "510", "no_answer": "510"})
    wait_for(
        driver,
        lambda d: "510" in css(d, '#objects tr[data-key="4650"]')[0].text,
        what="the forward in the list",
    )
    assert "busy 510, no answer 510" in server.cli("extension", "forward", "4650").stdout
    css(driver, '[data-forwarding="4650"]')[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#object-form [name=busy]"), what="the forwarding form")
    assert css(driver, "#object-form [name=busy]")[0].get_attribute("value") == "510"  # type: ignore[attr-defined]
    fill(driver, {"busy": ""})
    wait_for(
        driver,
        lambda d: "busy" not in server.cli("extension", "forward", "4650").stdout,
        what="the busy forward switched off",
    )
    assert "no answer 510" in server.cli("extension", "forward", "4650").stdout

    driver.get(f"{server.http_url}/ui/admin?resource=agents")  # type: ignore[attr-defined]
    for number, name, pin in (("21", "Oleg", "2121"), ("22", "Nina", "2222")):
        wait_for(driver, lambda d: css(d, "#objects"), what="the agents")
        css(driver, "#add")[0].click()  # type: ignore[attr-defined]
        wait_for(driver, lambda d: css(d, "#object-form [name=pin]"), what="the agent form")
        fill(driver, {"number": number, "name": name, "pin": pin})
        wait_for(
            driver,
            lambda d, n=number: css(d, f'#objects tr[data-key="{n}"]'),
            what=f"agent {number}",
        )

    driver.get(f"{server.http_url}/ui/admin?resource=queues")  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#objects"), what="the queues")
    css(driver, "#add")[0].click()  # type: ignore[attr-defined]
    wait_for(driver, lambda d: css(d, "#object-form [name=name]"), what="the queue form")
    fill(driver, {"name": "sales", "number": "520"})
    wait_for(driver, lambda d: css(d, '#objects tr[data-key="sales"]'), what="the new queue")
    css(driver, '[data-members="sales"]')[0].click()  # type: ignore[attr-defined]
    for agent in ("21", "22"):
        wait_for(driver, lambda d: css(d, "#member-agent option"), what="the agents to add")
        from selenium.webdriver.support.ui import Select

        Select(css(driver, "#member-agent")[0]).select_by_value(agent)  # type: ignore[arg-type]
        css(driver, "#members button[type=submit]")[0].click()  # type: ignore[attr-defined]
        wait_for(
            driver,
            lambda d, a=agent: css(d, f'#members tr[data-member="{a}"]'),
            what=f"member {agent}",
        )
    screenshot(driver, "admin-queue-agents.png")
    # Each change is in the audit log, by whom.
    driver.get(f"{server.http_url}/ui/admin?resource=audit")  # type: ignore[attr-defined]
    wait_for(
        driver,
        lambda d: any(
            "/api/v1/queues/sales/members/22" in row.text and "ann" in row.text
            for row in css(d, "#objects tbody tr")
        ),
        what="the membership in the audit log",
    )
    shown = server.cli("queue", "show", "sales").stdout
    assert "520" in shown
    assert "Oleg" in shown
    assert "Nina" in shown
    assert "4650" in server.cli("extension", "list").stdout
