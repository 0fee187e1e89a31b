"""jsonserve: a full REST backend from a JSON file, in json-server's dialect."""

__version__ = "0.1.0"

__all__ = ["__version__"]
