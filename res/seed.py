flag = True
count = 42
ratio = 3.14
z = 1 + 2j
name = "tracer"
point = (1, 2)
items = [1, "two", 3.0]
unique = {7}
table = {"a": 1, 2: "b"}


class Counter:
    def __init__(self, start):
        self.value = start

    def bump(self):
        self.value += 1
        return self.value


counter = Counter(10)
counter.bump()
print("a", "b", "c", sep="-")
text = input('input: ')
print(text)


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


result = fib(4)


def level4():
    raise ValueError("deep")


def level3():
    level4()


def level2():
    level3()


def level1():
    level2()


try:
    level1()
except ValueError as error:
    print("caught:", error)
