"""kgfilters part (see ARCHITECTURE.md)."""
