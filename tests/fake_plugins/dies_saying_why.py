"""A plugin whose import ends the interpreter after writing why to stderr (as a broken extension
module or a module shadowing the standard library does): the report must carry those lines."""
import os
import sys

sys.stderr.write("Traceback (most recent call last):\n  File \"<frozen>\", line 1\n"
                 "ImportError: cannot import name 'JSONDecodeError' from partially initialized module 'json'\n")
sys.stderr.flush()
os._exit(1)
