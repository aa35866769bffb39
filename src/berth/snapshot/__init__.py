"""Snapshotters: layers unpacked once, stacked, and handed out as mounts (data)."""
