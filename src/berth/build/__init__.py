"""The Dockerfile builder: parse, plan, cache, and steps through a StepRunner."""
