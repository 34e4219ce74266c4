"""Put the repository root on sys.path so the tests import the local ``utils``."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
