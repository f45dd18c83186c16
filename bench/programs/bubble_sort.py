# Bubble sort of a 40-item list, again and again until the step limit.
ROUNDS = 1000000  # the bench sets how many
def bubble_sort(items):
    n = len(items)
    for i in range(n):
        for j in range(n - 1 - i):
            if items[j] > items[j + 1]:
                items[j], items[j + 1] = items[j + 1], items[j]
    return items

for round_number in range(ROUNDS):
    data = [(i * 37) % 40 for i in range(40)]
    bubble_sort(data)
