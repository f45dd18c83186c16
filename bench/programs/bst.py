# A binary search tree of user objects, growing to about 200 nodes.
ROUNDS = 1000000  # the bench sets how many
class Node:
    def __init__(self, key):
        self.key = key
        self.left = None
        self.right = None

class Tree:
    def __init__(self):
        self.root = None
        self.size = 0

    def insert(self, key):
        if self.root is None:
            self.root = Node(key)
        else:
            node = self.root
            while True:
                if key < node.key:
                    if node.left is None:
                        node.left = Node(key)
                        break
                    node = node.left
                else:
                    if node.right is None:
                        node.right = Node(key)
                        break
                    node = node.right
        self.size += 1

tree = Tree()
key = 1
for round_number in range(ROUNDS):
    key = (key * 7919) % 1009
    tree.insert(key)
    if tree.size >= 200:
        tree = Tree()
