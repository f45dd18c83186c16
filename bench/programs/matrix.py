# 8x8 matrix multiply with nested lists.
ROUNDS = 1000000  # the bench sets how many
N = 8
a = [[(i + j) % 5 for j in range(N)] for i in range(N)]
b = [[(i * j) % 7 for j in range(N)] for i in range(N)]

def multiply(x, y):
    result = [[0] * N for _ in range(N)]
    for i in range(N):
        for j in range(N):
            total = 0
            for k in range(N):
                total += x[i][k] * y[k][j]
            result[i][j] = total
    return result

for round_number in range(ROUNDS):
    c = multiply(a, b)
