"""cgroup v2: one module per controller, each with `apply(directory, resources)`."""
