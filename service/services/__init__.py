"""Use cases. Each runs as one transaction (opened by :mod:`service.services.transaction`)
and takes plain values in and gives domain values back: no Flask, no HTTP."""
