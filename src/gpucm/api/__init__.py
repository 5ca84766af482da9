"""`gpucm serve`: the original GPU Cloud Manager REST API (`/api/v1`) on gpucm's core.

Every route calls the same services the CLI and the TUI use (store, launcher,
instance manager); this package only adds HTTP: the envelope, validation, the token,
rate and body limits, CORS and metrics. It needs the `api` extra (FastAPI, uvicorn).
"""
