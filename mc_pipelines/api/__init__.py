"""The control API: what the host application's settings panel calls (ASGI, Starlette).

Layout:
- `app.py` assembles the app from the route modules listed in `routes/__init__.py`
  (`ROUTE_MODULES`), adds bearer authentication (`auth.py`), the JSON error handling
  (`errors.py`) and the OpenAPI document (`openapi.py`, served at `GET /api/openapi.json`);
  `create_server` also mounts the webhook receiver (what `mc-pipelines serve` runs).
- `endpoint.py` declares an endpoint: method, path, pydantic request/response models and a
  plain synchronous handler that calls one action of `mc_pipelines.actions` (the same actions
  the CLI calls). The declaration is both the route and its OpenAPI entry, so the document the
  API publishes is the validation it performs.

Adding a route module (e.g. `routes/imports.py`):
1. write pydantic models for the body (subclass `models.Body`: strict, unknown fields refused)
   and the response (subclass `models.Out`);
2. declare `ENDPOINTS = [Endpoint("POST", "/orgs/{org_id}/imports", "import_contacts",
   "Import a workbook", handler, body=ImportBody, response=ImportOut)]`; the handler gets a
   `Call` (`call.engine`, `call.org_id`, `call.path`, `call.body`, `call.actor`) and returns
   the response model; it must scope every query to `call.org_id`;
3. add the module to `ROUTE_MODULES` in `routes/__init__.py`, and a test under
   `mc_pipelines_tests/api/` (the schemathesis run and the cross-org test pick the route up
   from the OpenAPI document).
Path parameters are validated by name (`endpoint.PATH_PARAMS`); a new name goes there. Query
parameters are a `models.Query` model (`query=`, the handler reads `call.query`). A raw file body
instead of JSON is `upload=Upload(media_types, max_bytes)` (`call.upload`, `call.content_type`;
over the cap 413), a file answer `download=Download(media_types)` with the handler returning a
Starlette `Response`; both are documented as `string` bodies with `contentMediaType`
(`routes/spreadsheets.py` uses all three).
"""
