"""ringxfer-perf: backends, strategies and peers side by side (perf/README.md)."""
