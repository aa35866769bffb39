"""berth's monitor: one small process per container (berth's conmon)."""
