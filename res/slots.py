class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Point3(Point):
    __slots__ = ("z",)


p = Point(1, 2)
q = Point3(3, 4)
q.z = 5
