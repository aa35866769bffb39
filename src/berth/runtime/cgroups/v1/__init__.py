"""cgroup v1: one module per controller, each with `apply(directory, resources)`."""
