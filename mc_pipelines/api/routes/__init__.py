"""The control API's route modules, each a list of `ENDPOINTS` (see `mc_pipelines.api`).
Add a module here to serve it and publish it in the OpenAPI document."""

from mc_pipelines.api.routes import (
    audiences,
    campaigns,
    connection,
    erasure,
    preferences,
    segments,
    spreadsheets,
    status,
    syncs,
)

ROUTE_MODULES = [status, connection, audiences, segments, campaigns, preferences, erasure, syncs,
                 spreadsheets]
