"""AWS access of the ingest runtime and the sources command, behind small functions (tested with moto)."""
