import math
root = math.sqrt(16)
import os
