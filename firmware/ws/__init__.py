"""RFC 6455 WebSocket client: a sans-I/O core (protocol) and an asyncio connection (client)."""

__version__ = "0.1.0"
