"""Python Tutor's own front end (tests/pythontutor/frontend, MIT: its LICENSE.txt) on this function.

The page and the function share one origin, as when Python Tutor's page is
hosted next to the function behind a path route: the emulator serves
the function, and the test's own route answers /tutor/ with the page's
files; the page's GET /tutor/web_exec_py3.py goes to the function itself,
with no proxy. Every other address is refused.
"""

import tempfile
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.test_emulator import start_emulator
from tests.test_viewer import CHROMIUM, CHROMIUM_FLAGS

FRONTEND = Path(__file__).resolve().parent / "pythontutor" / "frontend"
PROGRAM = "def f(x):\n    y = [x, x]\n    return y\nz = f(3)\nprint(z)\n"


@pytest.fixture(scope="module")
def open_page():
    with start_emulator() as url, tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        origin = url.rstrip("/")
        context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                                args=CHROMIUM_FLAGS)
        asked = []

        def route(route):
            parts = urllib.parse.urlsplit(route.request.url)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                return route.abort()
            if parts.path.endswith("_exec_py3.py"):
                asked.append(urllib.parse.parse_qs(parts.query))
                return route.continue_()  # to the function
            if parts.path.startswith("/tutor/"):
                path = FRONTEND / parts.path[len("/tutor/"):]
                return route.fulfill(path=str(path)) if path.is_file() else route.fulfill(status=404, body="")
            return route.continue_()

        context.route("**/*", route)

        def visit(source, **params):
            page = context.new_page()
            fragment = urllib.parse.urlencode(dict(code=source, py="3", mode="display", **params),
                                              quote_via=urllib.parse.quote)
            page.goto(f"{origin}/tutor/visualize.html#{fragment}")
            return page, asked

        yield visit
        context.close()


def test_frames_objects_arrows_and_stepping(open_page):
    page, asked = open_page(PROGRAM)
    expect(page.locator("#curInstr")).to_have_text("Step 1 of 7", timeout=15000)
    assert asked[-1]["user_script"] == [PROGRAM.rstrip("\n")]  # the page drops the last newline
    page.click("#jmpStepFwd")
    expect(page.locator("#curInstr")).to_have_text("Step 2 of 7")
    for _ in range(3):
        page.click("#jmpStepFwd")
    expect(page.locator("#curInstr")).to_have_text("Step 5 of 7")
    # inside f after y = [x, x]: its frame with x and y, y pointing to a list of two 3s
    frame = page.locator(".stackFrame", has_text="f")
    expect(frame.locator(".stackFrameVar", has_text="x")).to_have_count(1)
    expect(frame.locator(".stackFrameVar", has_text="y")).to_have_count(1)
    heap_list = page.locator(".heapObject", has_text="list")
    expect(heap_list).to_have_count(1)
    assert heap_list.inner_text().count("3") >= 2
    assert page.locator("svg path").count() >= 1  # the arrow from y to the list
    page.click("#jmpStepBack")
    expect(page.locator("#curInstr")).to_have_text("Step 4 of 7")
    page.click("#jmpLastInstr")
    expect(page.locator("#pyStdout")).to_have_value("[3, 3]")  # the page trims the last newline


def test_an_uncaught_exception_is_shown(open_page):
    page, _ = open_page("x = 1\ny = x / 0\n")
    expect(page.locator("#curInstr")).to_contain_text("of", timeout=15000)
    page.click("#jmpLastInstr")
    expect(page.locator("#errorOutput")).to_contain_text("ZeroDivisionError: division by zero")


def test_input_and_heap_primitives_from_the_page(open_page):
    page, asked = open_page("name = input('who? ')\nprint('hi', name)\n", rawInputLstJSON='["Ada"]',
                            heapPrimitives="true")
    expect(page.locator("#curInstr")).to_contain_text("of", timeout=15000)
    assert '"heap_primitives":true' in asked[-1]["options_json"][0].replace(" ", "")
    assert asked[-1]["raw_input_json"] == ['["Ada"]']
    page.click("#jmpLastInstr")
    expect(page.locator("#pyStdout")).to_have_value("who? Ada\nhi Ada")
    # with heap_primitives the string is an object in the heap, not a value in its frame
    expect(page.locator(".heapObject", has_text="Ada").first).to_be_visible()
