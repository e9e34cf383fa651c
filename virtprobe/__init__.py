"""virtprobe: what is this machine, really, and what does isolation cost on it?"""

__version__ = "0.1.0"
