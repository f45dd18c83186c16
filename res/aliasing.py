a = [1, 2]
b = a
b.append(3)
c = [a, a]
d = list(a)
a.append(4)
