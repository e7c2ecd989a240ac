"""/docs works on a closed network: the Swagger UI page loads nothing from
another host, and every script and stylesheet it names is served here."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def test_docs_page_loads_only_local_assets(app: Any) -> None:
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    parser = _Links()
    parser.feed(html)
    assert len(parser.urls) == 3, parser.urls  # the stylesheet and two scripts
    kinds = set()
    for url in parser.urls:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 1000, url
        kinds.add(asset.mimetype)
        asset.close()
    assert kinds == {"text/css", "text/javascript"}, kinds
    assert '"/openapi.json"' in html


def test_docs_assets_serve_nothing_else(app: Any) -> None:
    client = app.test_client()
    assert client.get("/docs/assets/../../setup.cfg").status_code == 404
    assert client.get("/docs/assets/no-such-file.js").status_code == 404
