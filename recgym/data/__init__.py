"""From raw session logs to cached transition arrays."""
