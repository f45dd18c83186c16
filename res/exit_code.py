print("bye")
exit(3)
