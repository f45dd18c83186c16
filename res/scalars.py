import decimal
import fractions
import datetime
small = 9007199254740991
big = 9007199254740993
negative_big = -2 ** 64
whole = 3.0
half = 0.5
infinite = float("inf")
not_a_number = float("nan")
complex_number = 2 - 1j
raw = b"\x00bytes"
dots = ...
nothing = None
yes, no = True, False
money = decimal.Decimal("1.10")
third = fractions.Fraction(1, 3)
day = datetime.date(2024, 2, 29)
long_text = "ab" * 600
huge = 7 ** 20000
