import sys
header = sys.stdin.readline().strip()
rest = [line.strip() for line in sys.stdin]
print(header, len(rest))
