"""`serve`: the control API (`/api`, bearer `MC_SERVICE_TOKEN`) and the webhook receiver."""

from __future__ import annotations

import click

from mc_pipelines.cli.support import app_engine


@click.command("serve", help="serve the control API (/api, OpenAPI at /api/openapi.json) and the "
               "webhook receiver; needs MC_SERVICE_TOKEN")
@click.option("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
@click.option("--port", type=int, default=8787, help="port (default 8787)")
@click.option("--demo", is_flag=True,
              help="demo only: without MC_SERVICE_TOKEN use a generated token in .data/service.token")
def cmd_serve(host: str, port: int, demo: bool) -> int:
    """Check the token and the schema, then serve with uvicorn (access log off: webhook paths
    carry their secret)."""
    import uvicorn

    from mc_pipelines.api.app import create_server
    from mc_pipelines.api.auth import SERVICE_TOKEN_ENV, service_token

    token = service_token(demo=demo)  # refuses to start without one, naming the variable
    app_engine()  # fail early, with what to fix, if the schema is missing
    where = f"http://{host}:{port}"
    print(f"control API on {where}/api (OpenAPI: {where}/api/openapi.json), webhook receiver on "
          f"{where}/mailchimp/webhook/{{org_id}}/{{secret}} (Ctrl-C to stop)")
    print("authenticate with: Authorization: Bearer <" + (
        SERVICE_TOKEN_ENV + ">" if not demo else "the token in .data/service.token>"))
    uvicorn.run(create_server(token), host=host, port=port, access_log=False, log_level="info")
    return 0


COMMANDS = [cmd_serve]
