"""Fuzzing the inputs a user or a provider controls: query text, CLI flags, the config
file, and every adapter's parsers."""
