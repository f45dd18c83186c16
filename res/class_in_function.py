def build():
    class Local:
        def hello(self):
            return "hi"
    return Local()


obj = build()
greeting = obj.hello()
