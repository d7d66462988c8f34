"""WebSocket adapters: asyncio in a background thread, feeding the frame loop."""
