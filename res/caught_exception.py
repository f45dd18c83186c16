def risky(x):
    try:
        return 10 / x
    except ZeroDivisionError as error:
        message = str(error)
        return message
    finally:
        print("checked", x)


a = risky(2)
b = risky(0)
try:
    {}["missing"]
except KeyError as error:
    caught = error
