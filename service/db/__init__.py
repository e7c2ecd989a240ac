"""Persistence: tables, the database handle, and the repositories and engine that
write the books. Imports the domain; never Flask."""
