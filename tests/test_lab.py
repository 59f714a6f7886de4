"""`make lab` serves course/ with the nbgrader and widgets extensions, and finds the config:
nbgrader's, and the project's own Lab settings (jupyter-config/: no Jupyter-news prompt)."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import urllib.request

import pytest

from nbtools import ROOT, free_port, lab_env, running_server

NEWS = "@jupyterlab/apputils-extension:announcements"
PROJECT_CONFIG = ROOT / "jupyter-config"


def get(url: str):
    # the first formgrader request creates the gradebook (alembic migrations): allow time
    with urllib.request.urlopen(url, timeout=90) as r:
        return r.status, r.read()


def test_the_project_settings_switch_the_news_prompt_off():
    page = json.loads((PROJECT_CONFIG / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"] == {NEWS: True}


def test_make_lab_puts_the_project_settings_first_on_the_config_path():
    proc = subprocess.run(["make", "-n", "lab", "PORT=1"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    command = proc.stdout.replace("\\\n", " ")
    (line,) = [ln for ln in command.splitlines() if "jupyter lab" in ln]
    m = re.search(r'JUPYTER_CONFIG_PATH="([^"$]+)', line)
    assert m, f"make lab does not set JUPYTER_CONFIG_PATH: {line}"
    assert m.group(1) == str(PROJECT_CONFIG)
    assert ":$JUPYTER_CONFIG_PATH" in line, "a JUPYTER_CONFIG_PATH already set must be kept"
    assert "JUPYTER_CONFIG_DIR" not in command, "the user's own settings folder is not touched"


def served_page_config(base: str, token: str) -> dict:
    _, body = get(f"{base}/lab?token={token}")
    m = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                  body, re.S)
    assert m, body[:500]
    return json.loads(m.group(1))


@pytest.mark.slow
def test_make_lab_serves_the_course_with_nbgrader(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    cmd = ["make", "lab", f"PORT={port}",
           "LAB_ARGS=--no-browser --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1"]
    log = tmp_path / "lab.log"
    env = lab_env(tmp_path, token)
    # The throw-away user config dir holds no page config: the project's must switch news off.
    (tmp_path / "config" / "labconfig" / "page_config.json").unlink()
    with running_server(cmd, env, port, token, log, cwd=ROOT) as base:
        assert NEWS in served_page_config(base, token)["disabledExtensions"]
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
