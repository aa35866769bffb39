"""Images: local base images now; pull, unpack, commit, save and load to come."""
