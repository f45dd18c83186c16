from enum import Enum, IntEnum


class Color(Enum):
    RED = 1
    GREEN = 2


class Level(IntEnum):
    LOW = 1


favourite = Color.RED
level = Level.LOW
