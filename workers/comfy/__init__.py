"""ComfyUI sidecar support: a small sync client for its HTTP + websocket API, and the engine
that runs workflow tasks (trusted templates or allow-listed user graphs) through it."""
