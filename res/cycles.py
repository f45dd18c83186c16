loop = [1]
loop.append(loop)
node = {"name": "root"}
node["self"] = node


class Person:
    def __init__(self, name):
        self.name = name
        self.friend = None


ann = Person("Ann")
bob = Person("Bob")
ann.friend = bob
bob.friend = ann
