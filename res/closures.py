def make_counter(start):
    count = start

    def increment(step=1):
        nonlocal count
        count += step
        return count

    return increment


tick = make_counter(5)
tick()
tick(2)
other = make_counter(0)
