"""`make lab` serves course/ with the nbgrader and widgets extensions, and finds the config."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from nbtools import ROOT, tool_env

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    # the first formgrader request creates the gradebook (alembic migrations): allow time
    with urllib.request.urlopen(url, timeout=90) as r:
        return r.status, r.read()


def test_make_lab_serves_the_course_with_nbgrader(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    env = dict(tool_env(), JUPYTER_TOKEN=token, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        ["make", "lab", f"PORT={port}",
         "LAB_ARGS=--no-browser --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            assert time.time() < deadline, "JupyterLab did not start within 60 s"
            time.sleep(0.5)
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = (tmp_path / "lab.log").read_text()
    assert "Unwritable directory" not in text, text[-2000:]
