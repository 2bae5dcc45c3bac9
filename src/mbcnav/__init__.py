"""mbcnav: decision support along the care pathway of metastatic breast cancer."""

__version__ = "0.1.0"
