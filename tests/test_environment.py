"""environment.yml (conda, Binder) and pyproject.toml list the same packages and versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pyproject_packages() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def environment_packages() -> dict[str, str]:
    out: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.strip():
            continue
        if stripped.strip() == "- pip:":
            continue
        m = re.match(r"^\s*-\s+(.+)$", stripped)
        if not m:
            continue
        item = m.group(1).strip()
        if item in ("pip", "-e .") or item.startswith("python="):
            continue
        name, spec = _split(item)
        out[name] = spec
    return out


def test_same_packages_and_versions():
    py, env = pyproject_packages(), environment_packages()
    assert set(py) == set(env), (
        f"only in pyproject.toml: {sorted(set(py) - set(env))}; "
        f"only in environment.yml: {sorted(set(env) - set(py))}"
    )
    differing = {k: (py[k], env[k]) for k in py if py[k] != env[k]}
    assert not differing, f"version specs differ (pyproject, environment.yml): {differing}"


def test_environment_installs_nnlib_and_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert "- -e ." in text and "python=3.11" in text


def test_nnlib_runtime_dependencies_stay_small():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {_split(r)[0] for r in data["project"]["dependencies"]}
    assert names <= {
        "numpy", "matplotlib", "ipywidgets", "tqdm", "scikit-learn", "threadpoolctl", "mnist1d",
        "pooch",  # nnlib.datasets: the optional larger sets, hash-verified and cached
        "names",  # nnlib.text: US-census first names for the character models (lesson 12)
    }
    assert "torch" not in pyproject_packages()
