"""`mbcnav serve`: the API and web page on uvicorn (embedded default: SQLite, the embedded token issuer)."""

from __future__ import annotations

import logging
import sys

from mbcnav.outcome import EXIT_OK, user_error
from mbcnav.service.auth import issue_token
from mbcnav.service.migrations import RegistryError
from mbcnav.service.registry import Registry
from mbcnav.service.settings import Settings
from mbcnav.trials.store import display_url

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    db_url: str | None = None,
    trials_db_url: str | None = None,
    sign_in_link: bool = True,
    settings: Settings | None = None,
) -> int:
    """Start the service and block until interrupted. Returns an exit code (2 when the database cannot be used)."""
    import uvicorn

    from mbcnav.service.app import create_app

    settings = settings or Settings(db_url=db_url, trials_db_url=trials_db_url)
    try:
        registry = Registry(settings.db_url)
    except RegistryError as exc:
        return user_error(str(exc))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    app = create_app(settings, registry=registry)
    print(f"mbcnav: registry {display_url(registry.url)}", file=sys.stderr)
    print(f"mbcnav: API and web page on http://{host}:{port}/ (OpenAPI at /openapi.json)", file=sys.stderr)
    if sign_in_link and settings.embedded_issuer:
        token = issue_token(registry.token_secret(), sub="local-clinician", role="clinician", hours=12)
        print(
            f"mbcnav: open http://{host}:{port}/signin?token={token}\n"
            "        to sign in as a clinician for 12 hours (keep this link to yourself)",
            file=sys.stderr,
        )
    # uvicorn's access log prints each URL, which holds patient ids: mbcnav logs route templates instead.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", server_header=False)
    return EXIT_OK
