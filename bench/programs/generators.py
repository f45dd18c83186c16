# Generators and closures.
ROUNDS = 1000000  # the bench sets how many
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
for round_number in range(ROUNDS):
    for value in scaled(evens(20), 3):
        total = tick(value)
