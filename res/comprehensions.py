numbers = [1, 2, 3]
squares = [n * n for n in numbers]
evens = {n for n in numbers if n % 2 == 0}
table = {n: str(n) for n in numbers}
