total = 0


def add(n):
    global total
    total += n


def outer():
    value = 1

    def inner():
        nonlocal value
        value += 1

    inner()
    return value


add(5)
result = outer()
