"""pouch-bwrap: a complete runtime plugin on bubblewrap, written to be copied."""

__version__ = "0.1.0"
