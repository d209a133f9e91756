"""Static URLs carry a hash of the file's content (`?v=`), so nginx can cache them for a year:
a changed file gets a new URL. One place for every url_for('static', ...)."""

import hashlib
import os
from functools import lru_cache


def init_app(app):
    @app.url_defaults
    def add_content_hash(endpoint, values):
        if endpoint == "static" and "v" not in values and values.get("filename"):
            version = content_hash(app.static_folder, values["filename"])
            if version:
                values["v"] = version


def content_hash(folder, filename):
    """The first 12 hex digits of the file's SHA-256; None when there is no such file."""
    path = os.path.join(folder, filename)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    # Keyed by size and time too, so an edited file in development gets a new hash.
    return _digest(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _digest(path, _mtime_ns, _size):
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:12]
