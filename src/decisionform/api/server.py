"""``decisionform serve``: uvicorn over ``create_app_from_env``, one app per worker process.

Settings travel to the workers through the environment (uvicorn starts them
as fresh processes); the cron secret is only ever read from
``DECISIONFORM_CRON_SECRET``, never from the command line, where ``ps`` would
show it.
"""

from __future__ import annotations

import os

import uvicorn

from decisionform.api.app import ApiSettings
from decisionform.api.logs import uvicorn_log_config


def serve(settings: ApiSettings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    os.environ["DECISIONFORM_DATABASE_URL"] = settings.database_url
    os.environ["DECISIONFORM_TRUST_TENANT_HEADER"] = "1" if settings.trust_tenant_header else ""
    os.environ["DECISIONFORM_MAX_BODY_BYTES"] = str(settings.max_body_bytes)
    os.environ["DECISIONFORM_API_LOCK_TIMEOUT"] = f"{settings.lock_timeout}s"
    uvicorn.run("decisionform.api.app:create_app_from_env", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_config=uvicorn_log_config(), server_header=False,
                proxy_headers=False)
