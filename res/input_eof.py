first = input("first? ")
second = input("second? ")
