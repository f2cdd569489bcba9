"""``python -m closeloop.cli``: the same command line as the ``closeloop`` script."""

from closeloop.cli import main

main()
