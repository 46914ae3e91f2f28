"""Build the execution environment (meta/execution-environment.yml) on the local Docker Engine and print
its tag, size and the seconds each step took; nothing is rebuilt when its inputs are unchanged.
Run by hand from the checkout: .venv/bin/python scripts/build_ee.py [cache folder]"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.harness.ee import build_ee  # noqa: E402  # the checkout on sys.path first

if __name__ == "__main__":
    cache = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "ee", "images")
    os.makedirs(cache, exist_ok=True)
    print(json.dumps(build_ee(cache), indent=2))
