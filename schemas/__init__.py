"""marshmallow schemas of the REST contract (API.md): what clients send and get.

Schemas check shape and format only (types, required fields, decimal text, ISO
times). Rules that need the database (is the asset known, how many decimals
does it take) are the services' job, so a schema never does I/O.
"""
