def inner(values):
    return values[0] / values[1]


def outer():
    return inner([1, 0])


print("before")
outer()
print("never")
