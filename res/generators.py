def countdown(n):
    while n > 0:
        yield n
        n -= 1
    return "done"


def relay():
    result = yield from countdown(2)
    yield result


values = list(relay())
squares = (x * x for x in range(3))
total = sum(squares)
