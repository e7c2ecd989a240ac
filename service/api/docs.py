"""The Swagger UI page at ``/docs``, served entirely by this process.

flask-smorest renders the page; its scripts and stylesheet come from the
``flask-swagger-ui`` package's copy of the Swagger UI distribution (pinned with
the package), so the page works on a closed network: nothing is loaded from a
CDN or any other host.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, send_from_directory

#: Where the page's scripts and stylesheet are served from (flask-smorest's
#: ``OPENAPI_SWAGGER_UI_URL``; the page appends the file names to it).
ASSETS_URL = "/docs/assets/"

_DIST = Path(str(files("flask_swagger_ui") / "dist"))

blp = Blueprint("docs_assets", __name__)


@blp.get(f"{ASSETS_URL}<path:filename>")
def asset(filename: str) -> Response:
    """One file of the Swagger UI distribution (404 for anything else)."""
    return send_from_directory(_DIST, filename, max_age=86400)
