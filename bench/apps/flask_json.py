"""Scenario app for `flask-json`: a small Flask app returning a JSON dict."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index() -> Any:
    return jsonify(message="Hello, World!", server="bench", items=[1, 2, 3], ok=True)
