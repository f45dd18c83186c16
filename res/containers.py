from collections import deque, defaultdict, Counter, OrderedDict
numbers = [3, 1, 2]
pair = (numbers, "x")
letters = {"b"}
frozen = frozenset({1})
mixed_keys = {1: "one", (2, 3): "tuple key", None: [], 2.5: "float"}
queue = deque([1, 2, 3])
queue.appendleft(0)
groups = defaultdict(list)
groups["even"].append(2)
tally = Counter("abca")
ordered = OrderedDict(a=1, b=2)
ordered.move_to_end("a")
empty = [[], (), {}, set()]
single = (1,)
