"""The operator API (FastAPI, ``/api/v1``): a thin caller of the domain layer."""
