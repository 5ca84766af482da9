"""Fault injection: every provider adapter, through its HTTP layer, inside a full refresh."""
