import math


def full(a, b=2, *args, c, d=None, **kwargs):
    return a


def positional(x, /, y):
    return x + y


class Box:
    def get(self, key):
        return key

    @staticmethod
    def make():
        return Box()


box = Box()
bound = box.get
builtin = len
module = math
numbers = range(3)
value = full(1, c=3)
