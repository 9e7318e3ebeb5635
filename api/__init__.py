"""tdw HTTP API (FastAPI) and the `tdw` command line; a thin layer over `wallet`."""
