"""SinkVis: see attention sinks and measure what a KV-cache eviction policy throws away."""

__version__ = "0.1.0"
