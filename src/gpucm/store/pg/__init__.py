"""The store's PostgreSQL backend (team mode): the same interface as SQLite's, for a
team sharing one database (`DATABASE_URL=postgresql://...`)."""
