# Recursive Fibonacci, over and over.
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

results = []
while True:
    results.append(fib(12))
    if len(results) > 5:
        results.clear()
