"""Pure data models of the OCI runtime and image specs: no I/O."""
