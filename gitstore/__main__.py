"""``python -m gitstore``: the same as the ``gitstore`` console script."""

from .cli import main

main()
