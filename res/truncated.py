many = list(range(150))
wide = {i: i * i for i in range(120)}
text = "x" * 1500
many.append("end")
