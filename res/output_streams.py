import sys
print(1, 2, 3, sep=", ", end=";\n")
print("to stderr", file=sys.stderr)
sys.stdout.write("written\n")
print("no newline", end="")
print(flush=True)
