import os
import sys
import tempfile

# Keep tests away from the user's real ~/.keras.
os.environ.setdefault("KERAS_HOME", os.path.join(tempfile.gettempdir(), "tkeras_test_home"))
sys.path.insert(0, os.path.dirname(__file__))
