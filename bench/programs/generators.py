# Generators and closures.
def counter(start):
    count = start
    def step(by):
        nonlocal count
        count += by
        return count
    return step

def evens(limit):
    n = 0
    while n < limit:
        yield n
        n += 2

def scaled(values, factor):
    for value in values:
        yield value * factor

tick = counter(0)
while True:
    for value in scaled(evens(20), 3):
        total = tick(value)
