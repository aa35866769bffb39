"""The Docker Engine API over the engine's façade (`berth system service`)."""
