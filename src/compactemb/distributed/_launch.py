"""``python -m compactemb.distributed._launch start ...``: Ray's own ``ray`` command, with the
node address kept on loopback when it is given as 127.0.0.1 (see :func:`pin_loopback`)."""

from __future__ import annotations

import sys

from ._cluster import pin_loopback

if __name__ == "__main__":
    pin_loopback()
    from ray.scripts.scripts import main

    sys.argv = ["ray", *sys.argv[1:]]
    main()
