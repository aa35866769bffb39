"""The content store: blobs by digest, verified as they are written."""
