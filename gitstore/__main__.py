"""``python -m gitstore``: the same as the ``gitstore`` console script."""

from .entry import main

main()
