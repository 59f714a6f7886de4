"""`make lab` serves course/ with the nbgrader and widgets extensions, and finds the config."""

from __future__ import annotations

import json
import secrets
import urllib.request

import pytest

from nbtools import ROOT, free_port, lab_env, running_server

pytestmark = pytest.mark.slow


def get(url: str):
    # the first formgrader request creates the gradebook (alembic migrations): allow time
    with urllib.request.urlopen(url, timeout=90) as r:
        return r.status, r.read()


def test_make_lab_serves_the_course_with_nbgrader(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    cmd = ["make", "lab", f"PORT={port}",
           "LAB_ARGS=--no-browser --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1"]
    log = tmp_path / "lab.log"
    with running_server(cmd, lab_env(tmp_path, token), port, token, log, cwd=ROOT) as base:
        _, body = get(f"{base}/api/contents?token={token}")
        assert sorted(c["name"] for c in json.loads(body)["content"]) == sorted(
            p.name for p in (ROOT / "course").iterdir() if p.is_dir())
        _, body = get(f"{base}/lab/api/extensions?token={token}")
        names = {e["name"] for e in json.loads(body)}
        assert {"jupyter-nbgrader", "jupyter-widgets-jupyterlab-manager"} <= names, names
        _, body = get(f"{base}/formgrader/api/assignments?token={token}")
        assignments = {a["name"]: a for a in json.loads(body)}
        assert "00_getting_started" in assignments
        assert assignments["00_getting_started"]["source_path"] == "solutions/00_getting_started"
    text = log.read_text()
    assert "Unwritable directory" not in text, text[-2000:]
