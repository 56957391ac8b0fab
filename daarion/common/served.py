"""Where the running development server listens, for the other processes on the same data folder.

`manage.py serve` writes its base URL to DATA_DIR/server.json; settings read it so that
`manage.py chat` (or any other command) in a second terminal calls the demo projects service of
the running server, and its SSRF guard allows that host, without copying environment variables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "server.json"


def served_url_write(*, data_dir: Path, url: str) -> Path:
    path = Path(data_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    return path


def served_url_read(*, data_dir: Path) -> str | None:
    """The last server's base URL (kept after a crash: the next server on that port is the same)."""
    try:
        url = json.loads((Path(data_dir) / FILE_NAME).read_text()).get("url")
    except (FileNotFoundError, ValueError, AttributeError):
        return None
    return url.rstrip("/") if isinstance(url, str) and url.startswith("http") else None
