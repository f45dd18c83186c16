"""The step-through page on GET /, driven in headless Chromium against the emulator."""

import json
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import check_error, check_record
from tests.test_emulator import ROOT, request, start_emulator

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialing out from a closed network.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "build" / "screenshots"

LIST_CALL_ALIAS = """\
def append_twice(items, value):
    items.append(value)
    items.append(value)
    return len(items)

numbers = [1, 2]
alias = numbers
count = append_twice(alias, 3)
print(count, numbers)
"""


@pytest.fixture(scope="module")
def server():
    with start_emulator() as url:
        yield url


@pytest.fixture(scope="module")
def browser_context():
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800})
        yield context
        context.close()


class Viewer:
    """One page: what the browser logged and every API answer the page received, checked against the schema."""

    def __init__(self, context, url):
        self.page = context.new_page()
        self.problems = []
        self.page.on("console", lambda message: message.type == "error" and self.problems.append(message.text))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.goto(url)

    def trace(self, source, steps="1000"):
        """Types the program, presses Trace; returns the API's status and its body, checked against the schema."""
        self.page.fill("#source", source)
        self.page.fill("#steps", steps)
        with self.page.expect_response(lambda response: response.request.method == "POST") as answer:
            self.page.click("#trace")
        body = json.loads(answer.value.body())
        return answer.value.status, check_record(body) if answer.value.status == 200 else check_error(body)

    def trace_record(self, source, steps="1000"):
        status, record = self.trace(source, steps)
        assert status == 200
        expect(self.page.locator("#trace-pane")).to_be_visible()
        return record

    def arrows_that_land_on_their_box(self):
        """How many arrows end on the border of the object their dot refers to (within 3 px)."""
        return self.page.evaluate("""() => {
            const origin = document.getElementById("state").getBoundingClientRect();
            const dots = [...document.querySelectorAll("#state .ref")];
            const paths = [...document.querySelectorAll("#arrows path.arrow")];
            return paths.filter((path, index) => {
                const box = document.querySelector(`.object[data-id="${dots[index].dataset.target}"]`)
                    .getBoundingClientRect();
                const end = path.getPointAtLength(path.getTotalLength());
                const x = end.x + origin.left, y = end.y + origin.top;
                return x >= box.left - 3 && x <= box.right + 3 && y >= box.top - 3 && y <= box.bottom + 3;
            }).length;
        }""")

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_get_serves_a_self_contained_page(server):
    status, headers, body = request(server, method="GET", content_type=None)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<script>" in page and 'id="trace"' in page
    # No fetch of anything outside the page: the policy forbids it, and the page names no other origin.
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    addresses = set(re.findall(r"https?://[^\s\"']+", page))
    assert addresses == {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched


def test_stepping_through_a_list_a_call_and_an_alias(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    record = viewer.trace_record(LIST_CALL_ALIAS)
    count = len(record["steps"])
    expect(page.locator("#position")).to_have_text(f"Step 1 of {count}")

    page.click("#last")
    expect(page.locator("#position")).to_have_text(f"Step {count} of {count}")
    expect(page.locator("#stdout")).to_have_text("4 [1, 2, 3, 3]\n")
    expect(page.locator("#outcome")).to_have_text("The program ran to the end")
    page.keyboard.press("Home")
    for _ in range(6):  # the call of append_twice, then its first two lines
        page.keyboard.press("ArrowRight")
    expect(page.locator("#position")).to_have_text(f"Step 7 of {count}")
    assert record["steps"][6]["event"] == "line" and record["steps"][6]["line"] == 3

    expect(page.locator("#listing .current")).to_have_attribute("data-line", "3")
    expect(page.locator("#listing .previous")).to_have_attribute("data-line", "2")
    frames = page.locator(".frame")
    expect(frames).to_have_count(2)
    expect(frames.nth(0).locator(".title")).to_contain_text("Global frame")
    inner = frames.nth(1)
    expect(inner).to_have_class("frame active")
    expect(inner.locator(".title")).to_contain_text("append_twice")
    expect(inner.locator("td:first-child")).to_have_text(["items", "value"])
    expect(inner.locator("tr").nth(1).locator("td").nth(1)).to_have_text("3")
    expect(frames.nth(0).locator("td:first-child")).to_have_text(["append_twice", "numbers", "alias"])
    # The list, already holding the first 3, and the function: two boxes.
    expect(page.locator(".object")).to_have_count(2)
    expect(page.locator('.object[data-kind="list"] .cell')).to_have_text(["01", "12", "23"])
    # append_twice, numbers and alias in the global frame, items in the call: four arrows, two to the list.
    expect(page.locator("#arrows path.arrow")).to_have_count(4)
    list_id = page.locator('.object[data-kind="list"]').get_attribute("data-id")
    expect(page.locator(f'.ref[data-target="{list_id}"]')).to_have_count(3)
    assert viewer.arrows_that_land_on_their_box() == 4
    viewer.screenshot("step.png")

    page.locator("#slider").fill("9")  # the return step
    expect(page.locator("#position")).to_have_text(f"Step 9 of {count}")
    expect(page.locator(".return-row")).to_contain_text("return value4")
    page.click("#back")
    expect(page.locator("#position")).to_have_text(f"Step 8 of {count}")
    assert viewer.problems == []


def test_an_uncaught_exception_shows_its_message_and_line(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    record = viewer.trace_record("values = {'a': 1}\nratio = values['a'] / 0\nprint(ratio)\n")
    assert record["outcome"]["status"] == "exception"
    expect(page.locator("#outcome")).to_be_hidden()
    page.click("#last")
    expect(page.locator("#outcome")).to_have_text("ZeroDivisionError: division by zero (line 2)")
    expect(page.locator("#listing .error-line")).to_have_attribute("data-line", "2")
    expect(page.locator('.object[data-kind="dict"] td')).to_have_text(["'a'", "1"])
    viewer.screenshot("exception.png")
    assert viewer.problems == []


def test_a_limit_reached_is_the_outcome(server, browser_context):
    viewer = Viewer(browser_context, server)
    record = viewer.trace_record("while True:\n    pass\n", steps="5")
    assert len(record["steps"]) == 5
    viewer.page.keyboard.press("End")
    expect(viewer.page.locator("#outcome")).to_have_attribute("data-status", "step_limit")
    expect(viewer.page.locator("#outcome")).to_have_text(record["outcome"]["message"])


def test_a_client_error_shows_its_message(server, browser_context):
    viewer = Viewer(browser_context, server)
    status, _ = viewer.trace("print(1)\n", steps="0")
    assert status == 400
    expect(viewer.page.locator("#error")).to_have_text("400 invalid_request: steps must be an integer >= 1")
    expect(viewer.page.locator("#trace-pane")).to_be_hidden()
    viewer.screenshot("error.png")
    # The program is still there to be fixed.
    expect(viewer.page.locator("#source")).to_have_value("print(1)\n")
    # Chromium logs every 4xx answer itself; the page adds no error of its own.
    assert [problem for problem in viewer.problems if "status of 400" not in problem] == []


def test_a_syntax_error_has_no_steps_but_shows_where(server, browser_context):
    viewer = Viewer(browser_context, server)
    viewer.trace_record("x = 1\nif x\n    pass\n")
    expect(viewer.page.locator("#position")).to_have_text("No steps")
    expect(viewer.page.locator("#outcome")).to_contain_text("SyntaxError")
    expect(viewer.page.locator("#listing .error-line")).to_have_attribute("data-line", "2")
    assert viewer.problems == []
