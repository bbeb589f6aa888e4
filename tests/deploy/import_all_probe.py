"""Run under a runtime's Python (tests/deploy/): import every module of the given packages from ROOT, with
PATHs first on sys.path (first wins), and print {module: error or null} as JSON.

Usage: python import_all_probe.py ROOT PACKAGE[,PACKAGE...] PATH [PATH ...]
"""

import importlib
import json
import sys
import traceback
from pathlib import Path


def main() -> None:
    root, packages, *paths = sys.argv[1:]
    sys.path[0:0] = paths
    results = {}
    for package in packages.split(","):
        for path in sorted((Path(root) / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            try:
                importlib.import_module(name)
                results[name] = None
            except BaseException as exc:
                results[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
