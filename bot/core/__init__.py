"""The pure core: plain functions over plain data; no network, clock, environment or files."""
