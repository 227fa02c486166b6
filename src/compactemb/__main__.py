"""``python -m compactemb``: the command line, as the ``compactemb`` script runs it."""

from ._entry import run

run()
