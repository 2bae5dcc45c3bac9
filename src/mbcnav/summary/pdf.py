"""HTML to PDF with WeasyPrint (A4 print CSS of the templates); no hand-written PDF."""

from __future__ import annotations

import logging


def html_to_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """The PDF of an HTML page (images inline as data: URIs, so no file or network access is needed)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    for name in ("weasyprint", "fontTools"):  # WeasyPrint reports unsupported CSS on its logger: not the user's
        logging.getLogger(name).setLevel(logging.ERROR)
    document: bytes = HTML(string=html, base_url=base_url).write_pdf()
    return document


__all__ = ["html_to_pdf"]
