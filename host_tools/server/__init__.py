"""The reference server of docs/protocol.md: device endpoint, SQLite telemetry, commands, HTTP API,
live updates and the dashboard's files, in one asyncio process (docs/server.md).

Modules: `store` (the database), `device` (the /device endpoint), `api` (/api and /api/live),
`auth` (operator token, limits per address), `app` (the Server that ties them), `cli`.
"""
