"""Read-only report queries and exports."""
