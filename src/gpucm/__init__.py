"""gpucm: find, compare and launch cloud GPUs from the terminal."""

__version__ = "0.1.0"
