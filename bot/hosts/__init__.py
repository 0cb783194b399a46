"""Git host adapters, one package per host; each is the only place its client library is imported."""
