"""`berth cri`: the Kubernetes Container Runtime Interface (runtime.v1) over gRPC, a front end of
the engine façade like the CLI and the Docker API service."""
