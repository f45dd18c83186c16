"""The step-through page on GET /, driven in headless Chromium against the emulator."""

import json
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

import tracer
from tests.conftest import check_delta_record, check_error
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
        # the browser asks for compression itself, and takes the fastest the service offers
        if len(answer.value.body()) >= 1024:
            assert answer.value.all_headers()["content-encoding"] == "zstd"
        body = json.loads(answer.value.body())
        if answer.value.status != 200:
            return answer.value.status, check_error(body)
        return answer.value.status, check_delta_record(body)  # the page asks for it and rebuilds the steps

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
    assert addresses == set()


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


# -- layouts from the record's shape (issue 16)

BST = (ROOT / "bench" / "programs" / "bst.py").read_text()
LINKED_LIST_REVERSAL = """\
class Node:
    def __init__(self, value, next=None):
        self.value = value
        self.next = next

head = None
for value in [4, 3, 2, 1]:
    head = Node(value, head)
previous = None
current = head
while current:
    following = current.next
    current.next = previous
    previous = current
    current = following
head = previous
"""
BUBBLE_SORT = """\
data = [5, 2, 9, 1, 7]
for end in range(len(data) - 1, 0, -1):
    for i in range(end):
        if data[i] > data[i + 1]:
            data[i], data[i + 1] = data[i + 1], data[i]
"""
DOUBLY_LINKED = """\
class Cell:
    def __init__(self, value):
        self.value = value
        self.prev = None
        self.next = None

first = Cell('a')
last = first
for value in 'bcd':
    cell = Cell(value)
    cell.prev = last
    last.next = cell
    last = cell
"""
GRAPH = """\
graph = {'a': ['b', 'c'], 'b': ['c'], 'c': ['a'], 'd': []}
seen = []
stack = ['a']
while stack:
    node = stack.pop()
    if node not in seen:
        seen.append(node)
        stack.extend(graph[node])
"""
TWO_CLASSES = """\
class Address:
    def __init__(self, city):
        self.city = city

class Person:
    def __init__(self, name, address):
        self.name = name
        self.address = address

home = Address('Recife')
people = [Person('Ana', home), Person('Rui', home)]
"""


def boxes(page, selector):
    """{data-id: bounding box} of the heap objects the selector finds."""
    return page.evaluate("""(selector) => Object.fromEntries([...document.querySelectorAll(selector)].map(
        (box) => { const r = box.getBoundingClientRect(); return [box.dataset.id, {left: r.left, right: r.right,
            top: r.top, bottom: r.bottom, x: r.left + r.width / 2}]; }))""", selector)


def step_to(page, step):
    page.locator("#slider").fill(str(step))
    expect(page.locator("#position")).to_contain_text(f"Step {step} of")


def test_a_binary_search_tree_is_drawn_as_a_tree(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    record = viewer.trace_record(BST, steps="300")
    step_to(page, 250)
    heap = record["steps"][249]["heap"]
    nodes = {key: obj for key, obj in heap.items() if obj.get("type") == "Node"}
    assert len(nodes) >= 8
    expect(page.locator('.structure[data-layout="tree"]')).to_have_count(1)
    drawn = boxes(page, '.structure[data-layout="tree"] .object')
    assert set(drawn) == set(nodes)
    pairs = 0
    for key, node in nodes.items():
        children = {side: node["attrs"][side]["ref"] for side in ("left", "right")
                    if isinstance(node["attrs"][side], dict)}
        for side, child in children.items():
            assert drawn[str(child)]["top"] > drawn[key]["bottom"]  # below its parent
            assert (drawn[str(child)]["x"] < drawn[key]["x"]) == (side == "left")
        if len(children) == 2:
            pairs += 1
            assert drawn[str(children["left"])]["right"] <= drawn[str(children["right"])]["left"]
    assert pairs >= 1
    assert viewer.arrows_that_land_on_their_box() == page.locator("#arrows path.arrow").count()
    # the page keeps to the window: the heap pane scrolls, the page does not
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    header = page.locator("header").bounding_box()
    assert header["width"] == page.viewport_size["width"]
    viewer.screenshot("tree.png")
    assert viewer.problems == []


def at_the_end(browser_context, server, source):
    """(viewer, its page, the last step) of the source traced and shown at its last step."""
    viewer = Viewer(browser_context, server)
    record = viewer.trace_record(source)
    viewer.page.keyboard.press("End")
    return viewer, viewer.page, record["steps"][-1]


def test_a_linked_list_is_drawn_as_a_chain_in_order(server, browser_context):
    viewer, page, last = at_the_end(browser_context, server, LINKED_LIST_REVERSAL)
    heap = last["heap"]
    head = last["stack"][0]["locals"]["head"]["ref"]
    order = []
    node = str(head)
    while node is not None:
        order.append(node)
        following = heap[node]["attrs"]["next"]
        node = str(following["ref"]) if isinstance(following, dict) else None
    assert [heap[key]["attrs"]["value"] for key in order] == [4, 3, 2, 1]  # reversed
    expect(page.locator('.structure[data-layout="chain"]')).to_have_count(1)
    drawn = boxes(page, '.structure[data-layout="chain"] .object')
    assert [drawn[key]["x"] for key in order] == sorted(drawn[key]["x"] for key in order)
    assert len({round(drawn[key]["top"]) for key in order}) == 1
    viewer.screenshot("chain.png")
    assert viewer.problems == []


def test_a_doubly_linked_list_with_its_cycle_is_a_chain(server, browser_context):
    viewer, page, last = at_the_end(browser_context, server, DOUBLY_LINKED)
    heap = last["heap"]
    by_value = {obj["attrs"]["value"]: key for key, obj in heap.items() if obj.get("type") == "Cell"}
    drawn = boxes(page, '.structure[data-layout="chain"] .object')
    assert [drawn[by_value[value]]["x"] for value in "abcd"] == sorted(drawn[by_value[value]]["x"] for value in "abcd")
    assert viewer.arrows_that_land_on_their_box() == page.locator("#arrows path.arrow").count()
    viewer.screenshot("doubly-linked.png")
    assert viewer.problems == []


def test_bubble_sort_as_bars_marks_what_changed(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    record = viewer.trace_record(BUBBLE_SORT)
    page.check("#bars")
    # the first swap: the first step whose list differs from the step before's
    def items(step):
        return [obj["items"] for obj in step["heap"].values() if obj["kind"] == "list"]
    swapped = next(index for index, step in enumerate(record["steps"])
                   if index and items(record["steps"][index - 1]) and items(step) != items(record["steps"][index - 1]))
    step_to(page, swapped + 1)
    listed = page.locator('.object[data-kind="list"].as-bars')
    expect(listed.locator(".bar")).to_have_count(5)
    expect(listed.locator(".bar .label")).to_have_text(["2", "5", "9", "1", "7"])
    expect(listed.locator(".bar.changed .label")).to_have_text(["2", "5"])
    heights = [box["height"] for box in (listed.locator(".bar .fill").nth(i).bounding_box() for i in range(5))]
    assert sorted(range(5), key=lambda i: heights[i]) == sorted(range(5), key=lambda i: [2, 5, 9, 1, 7][i])
    viewer.screenshot("bars.png")
    page.uncheck("#bars")
    expect(page.locator('.object[data-kind="list"] .cell')).to_have_count(5)
    assert viewer.problems == []


@pytest.mark.parametrize("source, name", [(GRAPH, "graph.png"), (TWO_CLASSES, "two-classes.png")])
def test_other_shapes_keep_the_general_layout(server, browser_context, source, name):
    viewer, page, _ = at_the_end(browser_context, server, source)
    expect(page.locator(".structure")).to_have_count(0)
    assert page.locator("#arrows path.arrow").count() >= 3
    assert viewer.arrows_that_land_on_their_box() == page.locator("#arrows path.arrow").count()
    viewer.screenshot(name)
    assert viewer.problems == []


def test_what_changed_at_a_step_is_marked(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    viewer.trace_record("a = [1]\nb = 2\na.append(3)\nc = 4\n")
    step_to(page, 3)  # b was just bound
    expect(page.locator(".frame tr.changed td:first-child")).to_have_text(["b"])
    expect(page.locator(".object.changed")).to_have_count(0)
    step_to(page, 4)  # the list just grew
    expect(page.locator(".object.changed")).to_have_count(1)
    expect(page.locator(".object .cell.changed")).to_have_text(["13"])
    expect(page.locator(".frame tr.changed")).to_have_count(0)
    expect(page.locator("#announce")).to_have_text("Step 4 of 5, line 4")
    assert viewer.problems == []


def test_the_address_opens_the_same_trace_at_the_same_step(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    page.fill("#input", "hello\n")
    viewer.trace_record("text = input()\nwords = text.split()\nprint(words)\n", steps="50")
    step_to(page, 2)
    page.wait_for_url(re.compile(r"#.*step=2"))
    address = page.url
    other = Viewer(browser_context, address)
    expect(other.page.locator("#position")).to_have_text("Step 2 of 4")
    expect(other.page.locator("#listing .current")).to_have_attribute("data-line", "2")
    assert other.page.input_value("#source") == "text = input()\nwords = text.split()\nprint(words)\n"
    assert other.page.input_value("#input") == "hello\n" and other.page.input_value("#steps") == "50"
    with other.page.expect_download() as download:
        other.page.click("#download")
    saved = json.loads(Path(download.value.path()).read_text())
    assert tracer.decode(saved)["steps"][1]["line"] == 2 and saved["stdout"] == "['hello']\n"
    assert viewer.problems == [] and other.problems == []


def test_a_ten_thousand_step_trace_loads_fits_and_steps(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    record = viewer.trace_record(BST, steps="10000")
    assert len(record["steps"]) == 10000
    expect(page.locator("#position")).to_have_text("Step 1 of 10000")
    step_to(page, 9000)
    page.click("#zoom-fit")
    viewport = page.locator("#viewport").bounding_box()
    drawn = boxes(page, "#state .object")
    assert len(drawn) >= 150
    outside = [key for key, box in drawn.items()
               if box["left"] < viewport["x"] - 1 or box["right"] > viewport["x"] + viewport["width"] + 1
               or box["top"] < viewport["y"] - 1 or box["bottom"] > viewport["y"] + viewport["height"] + 1]
    assert outside == []
    viewer.screenshot("tree-fit.png")
    # Per step, in the page: reported (build/viewer-step-ms.json), never asserted.
    milliseconds = page.evaluate("""() => { const t = performance.now();
        for (let i = 0; i < 30; i++) goTo(9000 + i); return (performance.now() - t) / 30; }""")
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "viewer-step-ms.json").write_text(json.dumps({"bst_10000_steps_ms_per_step": milliseconds}))
    print(f"stepping a 10000-step, 200-node tree trace: {milliseconds:.1f} ms per step")
    expect(page.locator("#position")).to_have_text("Step 9030 of 10000")
    assert viewer.problems == []


def test_long_lines_wrap_in_the_code_pane(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    viewer.trace_record("x = " + " + ".join(["1"] * 120) + "\n")
    assert page.evaluate("""() => { const text = document.querySelector('#listing .text');
        return text.scrollWidth <= text.clientWidth + 1 && text.getBoundingClientRect().height > 30; }""")


def test_every_control_is_reachable_by_keyboard(server, browser_context):
    viewer = Viewer(browser_context, server)
    page = viewer.page
    viewer.trace_record(LIST_CALL_ALIAS)
    step_to(page, 3)  # neither end: First and Last are enabled
    reached = set()
    page.focus("#edit")
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert {"first", "slider", "last", "download", "zoom-in", "zoom-out", "zoom-fit", "bars", "viewport"} <= reached
