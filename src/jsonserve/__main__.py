"""``python -m jsonserve``."""

from jsonserve.cli import main

main()
