class Hostile:
    def __repr__(self):
        raise RuntimeError("repr")

    def __eq__(self, other):
        raise RuntimeError("eq")

    def __hash__(self):
        raise RuntimeError("hash")

    def __getattr__(self, name):
        raise RuntimeError("getattr")

    def __getattribute__(self, name):
        raise RuntimeError("getattribute")

    def __str__(self):
        raise RuntimeError("str")

    def __len__(self):
        raise RuntimeError("len")

    def __iter__(self):
        raise RuntimeError("iter")

    @property
    def prop(self):
        raise RuntimeError("property")


class Endless:
    def __repr__(self):
        while True:
            pass


class Sneaky(list):
    def __iter__(self):
        raise RuntimeError("iter")

    def __len__(self):
        raise RuntimeError("len")


class Meta(type):
    def __hash__(cls):
        raise RuntimeError("metaclass hash")

    def __getattribute__(cls, name):
        raise RuntimeError("metaclass getattribute")


class Shaped(metaclass=Meta):
    size = 1


class Loud(Exception):
    def __str__(self):
        raise RuntimeError("str")


hostile = Hostile()
endless = Endless()
sneaky = Sneaky([1, 2])
shaped = Shaped()
held = [hostile, endless]
raise Loud("shown without __str__")
