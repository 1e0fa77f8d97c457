"""Cheap to deliver: static files at content-hashed URLs cached for a year, and compressed responses.

Every `url_for('static', filename=…)` gets `?v=<hash of the file's content>`, so templates stay as they are and a
changed file gets a new URL. A request whose `v` is the file's current hash is answered with
`Cache-Control: public, max-age=31536000, immutable` (browsers and CDNs never ask again); any other request for a
static file (no `v`, or the hash of an older version from a page cached across a deploy) is revalidated
(`no-cache` with its ETag), so nobody is ever stuck with a stale file for a year.

Compression (Flask-Compress: brotli or gzip, as the client accepts; `Vary: Accept-Encoding` always) is
done here rather than left to a reverse proxy so that `xtoportal serve` is complete on its own; a proxy in front sees
`Content-Encoding` and passes the body through. Static files are read into memory first (they are a few KB) so they
are compressed as whole bodies, with a `Content-Length`, like HTML. Compressing pages that hold a CSRF token is
safe from BREACH here because the attack needs many cross-site requests that carry the victim's session, and the
portal and dashboard cookies are `SameSite=Lax` (no cookie on cross-site subresource or form-POST requests).
"""
import hashlib
import os

from flask import Flask, request
from flask_compress import Compress
from werkzeug.security import safe_join

ONE_YEAR = 31_536_000
HASH_LENGTH = 12  # hex digits of SHA-256: 48 bits, plenty to tell versions of one file apart


class ContentHashes:
    """The hash of each static file's content, computed once per version of the file (size and mtime)."""

    def __init__(self, app: Flask):
        self.app = app
        self._known: dict[str, tuple[tuple[int, int], str]] = {}  # path → (version, hash)

    def of(self, filename: str) -> str | None:
        """The file's content hash, or None when there is no such file under the folder."""
        path = safe_join(self.app.static_folder, filename)
        if path is None:
            return None
        try:
            stat = os.stat(path)
            version = (stat.st_mtime_ns, stat.st_size)
            known = self._known.get(path)
            if known is not None and known[0] == version:
                return known[1]
            with open(path, "rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()[:HASH_LENGTH]
        except OSError:  # missing, a directory, unreadable: the URL stays plain and the request gets its 404
            return None
        self._known[path] = (version, digest)
        return digest


def init_app(app: Flask) -> None:
    hashes = ContentHashes(app)

    @app.url_defaults
    def add_content_hash(endpoint, values):
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = hashes.of(values["filename"])
            if digest is not None:
                values["v"] = digest

    def static(filename):
        """Serve a static file; immutable for a year when asked for by its current content hash."""
        response = app.send_static_file(filename)
        version = request.args.get("v")
        if version and version == hashes.of(filename):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        if response.status_code == 200:
            response.direct_passthrough = False
            response.make_sequence()  # a whole body: compressed like HTML, with a Content-Length
            response.close()  # the file, now read
        return response

    app.view_functions["static"] = static
    # Brotli 5 is the knee for these small text bodies (~1 ms, 8 % under level 4); zstd and deflate compress them
    # no better than gzip, which every client takes.
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    Compress(app)
