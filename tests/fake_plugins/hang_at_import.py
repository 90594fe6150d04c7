"""A plugin whose import never finishes (spins in Python): discovery must give up on it alone."""
while True:
    pass
