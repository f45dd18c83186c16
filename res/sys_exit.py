import sys
print("working")
sys.exit("fatal: stopping")
print("never")
