"""Small, valid, terminating programs made at random from pieces that stress the snapshot.

Each piece mutates, aliases, cycles, deletes, raises, uses __slots__,
properties, __getattr__, an __eq__ and __hash__ that raise, generators,
closures, deep recursion, or garbage cycles with finalizers (collected when
the program's own allocations make a collection due, never by the tracer's:
tracer/_collector.c). A program is a few pieces, sometimes inside a function
(so the same statements run in a frame of their own), sometimes ending in an
uncaught exception. The same seed gives the same programs.
"""

import random

PIECES = [
    "xs = [{a}, {b}, {c}]\nys = xs\nys.append({a})\ndel xs[0]\nys[0] = ys\n",
    "d = {{'k': {a}, {b}: 'v'}}\nd['self'] = d\nd.pop('k')\ndel d[{b}]\n",
    "class Slot:\n    __slots__ = ('a', 'b')\n    def __init__(self):\n        self.a = {a}\n"
    "s = Slot()\ns.b = [s]\ndel s.a\n",
    "class P:\n    @property\n    def v(self):\n        raise ValueError({a})\np = P()\ntry:\n    p.v\n"
    "except ValueError as e:\n    err = e\n",
    "class G:\n    def __getattr__(self, name):\n        return {a}\ng = G()\nval = g.anything\n",
    "class BadEq:\n    def __eq__(self, other):\n        raise RuntimeError('eq')\n"
    "    def __hash__(self):\n        raise RuntimeError('hash')\nbad = BadEq()\nholder = [bad, bad]\n",
    "def gen(n):\n    for i in range(n):\n        yield i * {a}\nout = list(gen({small}))\n",
    "def make(k):\n    def add(x):\n        return x + k\n    return add\nf = make({a})\nr = f({b})\n",
    "def rec(n):\n    return 0 if n == 0 else 1 + rec(n - 1)\ndepth = rec({depth})\n",
    "loop = []\nloop.append(loop)\npair = (loop, {a})\n",
    "try:\n    raise KeyError({a})\nexcept KeyError:\n    caught = True\n",
    "node = None\nfor i in range({small}):\n    node = {{'v': i, 'next': node}}\n",
    "numbers = set(range({small}))\nnumbers.discard({a})\nfrozen = frozenset(numbers)\n",
    "text = 'ab' * {small}\nparts = text.split('b')\n",
    "x = {a}\nx += {b}\nx //= ({b} or 1)\nbig = 7 ** {a}\n",
    "class T:\n    def __init__(self):\n        self.left = None\n        self.right = None\n"
    "root = T()\nroot.left = T()\nroot.right = root\ndel root.left\n",
    "import itertools\npairs = list(itertools.islice(itertools.count({a}), {small}))\n",
    "class Box:\n    pass\nbox = Box()\nbox.items = [box]\nbox.items.pop()\nbox.__dict__['n'] = {a}\n",
    "squares = [i * i for i in range({small})]\nlookup = {{i: s for i, s in enumerate(squares)}}\n",
    "values = [{a}, {b}, {c}]\nvalues.sort()\nvalues.reverse()\nfirst, *rest = values\n",
    "class Fin:\n    def __del__(self):\n        print('fin', {a})\nfins = [Fin() for _ in range({small})]\n"
    "for f in fins:\n    f.me = f\nfins = f = None\nalone = Fin()\nalone = None\nchurn = [[i] for i in range({churn})]\n",
]
ENDINGS = ["", "", "", "print(1 / ({a} - {a}))\n", "raise SystemExit({a})\n", "import sys\nsys.exit('stop')\n"]
STEP_LIMITS = (1, 2, 3, 50, 5000)


def _fill(piece, rng):
    return piece.format(a=rng.randint(-5, 40), b=rng.randint(0, 9), c=rng.choice(["'s'", "None", "2.5", "(1,)"]),
                        small=rng.randint(0, 12), depth=rng.choice([3, 30, 400, 1200]),
                        churn=rng.choice([0, 300, 900]))


def program(rng):
    body = "".join(_fill(rng.choice(PIECES), rng) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.3:
        body = "def main():\n" + "".join("    " + line + "\n" for line in body.splitlines()) + "main()\n"
    return body + _fill(rng.choice(ENDINGS), rng)


def programs(seed, count):
    rng = random.Random(seed)
    return [program(rng) for _ in range(count)]
