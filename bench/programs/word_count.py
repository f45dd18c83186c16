# Word count: a dict of str to int over a text.
ROUNDS = 1000000  # the bench sets how many
TEXT = """the quick brown fox jumps over the lazy dog while the cat sleeps and
the dog dreams of a fox that runs through the fields of gold under a sky of blue
and every word counts once more as the story goes round and round again"""

for round_number in range(ROUNDS):
    counts = {}
    for word in TEXT.split():
        word = word.strip(".,").lower()
        if word in counts:
            counts[word] += 1
        else:
            counts[word] = 1
    ranked = sorted(counts.items(), key=lambda pair: -pair[1])
