"""Heap objects: kinds, stable ids, sharing, cycles, caps, and no user code."""

import json

from tests.conftest import run


def last(record):
    step = record["steps"][-1]
    return step["stack"][0]["locals"], step["heap"]


def obj(heap, value):
    return heap[str(value["ref"])]


def test_shared_reference_is_one_heap_object():
    names, heap = last(run("a = [1]\nb = a\nc = (a, a)"))
    assert names["a"] == names["b"]
    assert obj(heap, names["c"])["items"] == [names["a"], names["a"]]


def test_cycles_are_refs_to_themselves():
    names, heap = last(run("a = []\na.append(a)\nd = {}\nd['me'] = d"))
    assert obj(heap, names["a"])["items"] == [names["a"]]
    assert obj(heap, names["d"])["entries"] == [["me", names["d"]]]


def test_heap_ids_are_stable_and_never_reused():
    record = run("a = [1]\nfirst = id(a)\ndel a\nb = [2]\nc = [3]\nd = c")
    ids = {}
    for step in record["steps"]:
        for name, value in step["stack"][0]["locals"].items():
            if isinstance(value, dict) and "ref" in value:
                ids.setdefault(name, set()).add(value["ref"])
    assert all(len(refs) == 1 for refs in ids.values())
    assert len({ids["a"].pop(), ids["b"].pop(), ids["c"].pop()}) == 3


def test_container_kinds_and_types():
    names, heap = last(run(
        "from collections import deque, defaultdict, Counter, OrderedDict\n"
        "l = [1]\nt = (1,)\ns = {1}\nf = frozenset({1})\nd = {1: 2}\nq = deque([1])\n"
        "dd = defaultdict(int)\nc = Counter('aa')\no = OrderedDict(x=1)"))
    kinds = {name: (obj(heap, value)["kind"], obj(heap, value)["type"]) for name, value in names.items()
             if name in ("l", "t", "s", "f", "d", "q", "dd", "c", "o")}
    assert kinds == {"l": ("list", "list"), "t": ("tuple", "tuple"), "s": ("set", "set"),
                     "f": ("frozenset", "frozenset"), "d": ("dict", "dict"), "q": ("list", "deque"),
                     "dd": ("dict", "defaultdict"), "c": ("dict", "Counter"), "o": ("dict", "OrderedDict")}


def test_dict_keys_need_not_be_strings():
    names, heap = last(run("d = {1: 'a', (1, 2): None, None: 2.5}"))
    entries = obj(heap, names["d"])["entries"]
    assert entries[0] == [1, "a"] and entries[2] == [None, 2.5]
    assert heap[str(entries[1][0]["ref"])]["items"] == [1, 2]


def test_ordered_dict_shows_its_own_order():
    names, heap = last(run("from collections import OrderedDict\no = OrderedDict(a=1, b=2)\no.move_to_end('a')"))
    assert obj(heap, names["o"])["entries"] == [["b", 2], ["a", 1]]


def test_big_containers_are_cut():
    record = run("l = list(range(250))\nd = dict.fromkeys(range(300))")
    names, heap = last(record)
    cap = record["limits"]["items_per_object"]
    assert len(obj(heap, names["l"])["items"]) == cap and obj(heap, names["l"])["truncated"] == 250 - cap
    assert len(obj(heap, names["d"])["entries"]) == cap and obj(heap, names["d"])["truncated"] == 300 - cap


def test_instance_attrs_slots_and_class_attrs():
    names, heap = last(run(
        "class A:\n    kind = 'a'\n    def m(self):\n        pass\n"
        "class B(A):\n    __slots__ = ('x',)\n"
        "class C:\n    __slots__ = ('p', 'q')\n"
        "a = A()\na.v = 1\nc = C()\nc.q = 2"))
    assert obj(heap, names["a"]) == {"kind": "instance", "type": "A", "attrs": {"v": 1}}
    assert obj(heap, names["c"])["attrs"] == {"q": 2}
    cls = obj(heap, names["B"])
    assert cls["kind"] == "class" and cls["name"] == "B" and cls["bases"] == ["A"]
    cls_a = obj(heap, names["A"])
    assert cls_a["attrs"]["kind"] == "a" and heap[str(cls_a["attrs"]["m"]["ref"])]["kind"] == "function"


def test_function_signature_and_parent_frame():
    record = run(
        "def outer(a, b=2, *args, c, d=None, **kw):\n"
        "    def inner(x, /, y):\n"
        "        return x\n"
        "    return inner\n"
        "f = outer(1, c=3)\n"
        "g = lambda z: z\n")
    names, heap = last(record)
    outer = obj(heap, names["outer"])
    assert outer == {"kind": "function", "type": "function", "name": "outer",
                     "signature": "outer(a, b=2, *args, c, d=None, **kw)", "parent": None}
    inner = obj(heap, names["f"])
    assert inner["signature"] == "inner(x, /, y)"
    outer_frame_ids = {frame["id"] for step in record["steps"] for frame in step["stack"]
                       if frame["name"] == "outer"}
    assert inner["parent"] in outer_frame_ids
    assert obj(heap, names["g"])["signature"] == "<lambda>(z)"


def test_lambda_in_comprehension_has_the_defining_frame_as_parent():
    record = run("def make():\n    return [lambda: i for i in range(2)]\nfs = make()")
    names, heap = last(record)
    parents = {heap[str(item["ref"])]["parent"] for item in obj(heap, names["fs"])["items"]}
    defining = {frame["id"] for step in record["steps"] for frame in step["stack"]
                if frame["name"] in ("make", "<listcomp>")}
    assert len(parents) == 1 and parents <= defining


def test_bound_method_drops_self():
    names, heap = last(run("class K:\n    def get(self, key, default=0):\n        pass\nm = K().get"))
    assert obj(heap, names["m"])["signature"] == "get(key, default=0)"
    assert obj(heap, names["m"])["type"] == "method"


def test_other_objects_have_safe_reprs():
    names, heap = last(run("import math\nr = range(2, 5)\nf = len\ng = (x for x in [])\n"
                           "o = object()\ne = ValueError('bad', 2)\nt = int"))
    reprs = {name: obj(heap, value)["repr"] for name, value in names.items()}
    assert reprs == {"math": "<module 'math'>", "r": "range(2, 5)", "f": "<built-in function len>",
                     "g": "<generator object <genexpr>>", "o": "<object object>",
                     "e": "ValueError('bad', 2)", "t": "<class 'int'>"}


def test_deep_linked_list_of_100000_nodes():
    record = run("from dataclasses import dataclass\nfrom functools import reduce\n"
                 "@dataclass\nclass Node:\n    next: object\n    value: int\n"
                 "head = reduce(Node, range(100000), None)\n")
    names, heap = last(record)
    assert record["outcome"]["status"] == "ok"
    count, node = 0, obj(heap, names["head"])
    while True:
        count += 1
        following = node["attrs"]["next"]
        if following is None:
            break
        node = obj(heap, following)
    assert count == 100000


def test_deeply_nested_lists():
    record = run("import json\nx = json.loads('[' * 1000 + ']' * 1000)\n")
    assert record["outcome"]["status"] == "ok"
    names, heap = last(record)
    assert sum(obj["kind"] == "list" for obj in heap.values()) == 1000


HOSTILE = """
log = []
class Hostile:
    def __repr__(self): log.append('repr'); raise RuntimeError
    def __str__(self): log.append('str'); raise RuntimeError
    def __eq__(self, other): log.append('eq'); raise RuntimeError
    def __hash__(self): log.append('hash'); return 1
    def __len__(self): log.append('len'); return 1
    def __iter__(self): log.append('iter'); return iter([])
    def __getattr__(self, name): log.append('getattr'); raise RuntimeError
    def __getattribute__(self, name):
        log.append('getattribute')
        return object.__getattribute__(self, name)
    @property
    def prop(self): log.append('property'); return 1
class Forever:
    def __repr__(self):
        while True:
            pass
class Meta(type):
    def __hash__(cls): log.append('meta hash'); return 1
    def __eq__(cls, other): log.append('meta eq'); return False
    def __getattribute__(cls, name):
        log.append('meta getattribute')
        return type.__getattribute__(cls, name)
class Shaped(metaclass=Meta):
    pass
class Sneaky(dict):
    def __iter__(self): log.append('dict iter'); return iter([])
    def items(self): log.append('dict items'); return []
    def __len__(self): log.append('dict len'); return 0
objects = [Hostile(), Forever(), Shaped(), Shaped, Sneaky(a=1)]
n = len(log)
"""


def test_snapshot_never_calls_user_code():
    record = run(HOSTILE)
    assert record["outcome"]["status"] == "ok"
    names, heap = last(record)
    assert names["n"] == 0
    assert obj(heap, names["log"])["items"] == []
    kinds = [obj(heap, item)["kind"] for item in obj(heap, names["objects"])["items"]]
    assert kinds == ["instance", "instance", "instance", "class", "dict"]
    sneaky = obj(heap, obj(heap, names["objects"])["items"][4])
    assert sneaky["entries"] == [["a", 1]]


def test_exception_message_never_calls_user_str():
    record = run("class E(Exception):\n    def __str__(self):\n        while True: pass\nraise E('plain')")
    assert record["outcome"]["exception"]["message"] == "plain"
    assert record["outcome"]["exception"]["type"] == "E"


def test_step_exception_message_with_object_argument_is_safe():
    record = run("class K:\n    def __repr__(self):\n        while True: pass\n"
                 "try:\n    raise KeyError(K())\nexcept KeyError:\n    pass")
    exceptions = [step["exception"] for step in record["steps"] if step["event"] == "exception"]
    assert exceptions == [{"type": "KeyError", "message": "<K>"}]


def test_heap_holds_every_object_reachable_and_no_more():
    record = run("a = [[1], [2]]\nb = {'k': (3,)}\n")
    names, heap = last(record)
    assert len(heap) == 5
    assert json.dumps(heap).count('"kind"') == 5


def test_enum_class_shows_its_members_not_enum_bookkeeping():
    names, heap = last(run("from enum import Enum\nclass Color(Enum):\n    RED = 1\n    GREEN = 2\nc = Color.RED"))
    color = obj(heap, names["Color"])
    assert list(color["attrs"]) == ["RED", "GREEN"] and color["bases"] == ["Enum"]
    assert obj(heap, names["c"])["attrs"]["_value_"] == 1
