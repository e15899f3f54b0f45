"""``python -m realtime_fast.mock``: the same as ``realtime-fast mock-server``."""

import argparse
import sys

from .cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m realtime_fast.mock", description="Run the mock Realtime server.")
add_arguments(parser)
sys.exit(run(parser.parse_args()))
