words = ["pear", "fig", "apple"]
by_length = sorted(words, key=lambda w: len(w))
double = lambda x: x * 2
doubled = list(map(double, [1, 2]))
adders = [lambda y, k=k: y + k for k in range(2)]
