# Recursive Fibonacci, over and over.
ROUNDS = 1000000  # the bench sets how many
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

results = []
for round_number in range(ROUNDS):
    results.append(fib(12))
    if len(results) > 5:
        results.clear()
