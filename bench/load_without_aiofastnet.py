"""Run the load harness (``bench/load_rivals.py``, the options of ``realtime-fast bench load``) with picows' client connections on asyncio's own transports, not aiofastnet's.

picows opens every connection through aiofastnet (a Cython transport and TLS
layer by picows' author) whenever aiofastnet is installed, and picows 2.x
depends on it, so the load harness measures aiofastnet by default. This
wrapper passes ``use_aiofastnet=False`` to every ``picows.ws_connect`` of this
process, to measure what aiofastnet brings to the client. The load server is
a separate process and keeps picows' default.

Usage::

    python bench/load_without_aiofastnet.py --sessions 1000 --tls --json out.json

(``bench/load_sweep.py --no-aiofastnet`` runs its points this way.)
"""

from __future__ import annotations

import functools
import sys

import picows


def main() -> int:
    picows.ws_connect = functools.partial(picows.ws_connect, use_aiofastnet=False)
    import load_rivals  # the harness with the comparison clients (this folder is on sys.path: the script's own)

    return load_rivals.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
