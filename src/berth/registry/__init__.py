"""The OCI distribution client: endpoints, auth, blobs and manifests over HTTP."""
