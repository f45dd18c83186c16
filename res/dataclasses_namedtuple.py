from dataclasses import dataclass, field
from collections import namedtuple


@dataclass
class Item:
    name: str
    tags: list = field(default_factory=list)


Pair = namedtuple("Pair", "left right")
item = Item("pen")
item.tags.append("blue")
pair = Pair(1, 2)
same = item == Item("pen", ["blue"])
