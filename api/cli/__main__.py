"""`python -m api.cli`: the same as the `tdw` script."""

from api.cli import app

app()
