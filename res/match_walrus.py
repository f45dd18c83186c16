def describe(shape):
    match shape:
        case {"kind": "circle", "r": r}:
            return f"circle {r}"
        case (x, y):
            return f"point {x},{y}"
        case _:
            return "unknown"


shapes = [{"kind": "circle", "r": 2}, (1, 2), 5]
names = [describe(s) for s in shapes]
data = [1, 5, 9]
if (n := len(data)) > 2:
    print("long", n)
