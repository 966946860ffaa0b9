"""Check what ``python -m build`` made: ``python .ci/check_dist.py DIST_DIR``.

The wheel carries the JS bundle, py.typed and the demo; the sdist carries the bundle, its sources
(client/) and the changelog.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

WHEEL_FILES = ["flash_ws/assets/flash_ws.js", "flash_ws/py.typed", "flash_ws/demo/__main__.py"]
SDIST_FILES = ["flash_ws/assets/flash_ws.js", "flash_ws/py.typed", "client/src/index.js", "client/build.mjs",
               "CHANGELOG.md", "pyproject.toml"]


def missing(names: list[str], wanted: list[str]) -> list[str]:
    return [name for name in wanted if name not in names]


def main(dist: Path) -> None:
    (wheel,) = dist.glob("flash_ws-*.whl")
    (sdist,) = dist.glob("flash_ws-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        wheel_missing = missing(archive.namelist(), WHEEL_FILES)
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
        sdist_missing = missing(names, SDIST_FILES)
    if wheel_missing or sdist_missing:
        sys.exit(f"{wheel.name} lacks {wheel_missing}; {sdist.name} lacks {sdist_missing}")
    print(f"{wheel.name} and {sdist.name} carry the JS bundle ({', '.join(SDIST_FILES[2:])} in the sdist)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
