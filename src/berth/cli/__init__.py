"""The docker-like `berth` command line."""
