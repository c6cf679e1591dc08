"""The bare baseline: a minimal Flask app answering {"status": "ok"}.

Served by the same gunicorn settings as the service and driven by the same load
client in the same run, it is the yardstick every figure is divided by: what
gunicorn + Flask + the client cost on this machine right now, before any of
RapidCare's work (auth, validation, SQLite) is added.
"""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok():
    return {"status": "ok"}
