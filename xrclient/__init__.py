"""xrclient: an immersive client for industrial digital twins."""

__version__ = "0.1.0"
