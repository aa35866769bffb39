"""The engine: containers over images, snapshots, the monitor and the runtime.
The CLI drives it; the API server will too (`berth.engine.engine.Engine`)."""
