"""Run each submission's kernel in a bubblewrap sandbox.

The autograder starts its kernels through :class:`SandboxedKernelManager` (selected by
``GradingExecute`` in ``autograder/nbgrader_config.py``). Each kernel runs as::

    python -I -S -c <closer>   close inherited descriptors, set resource limits, drop root
      bwrap ...                 a fresh root holding only the installed environment
        python -P -c <boot>     copy the submission into a scratch folder, pre-import the
                                course's modules from the environment, start ipykernel

What the sandboxed code can reach:

- read only: the operating system's programs and libraries (``/usr``, a few ``/etc`` files),
  the Python environment (its prefix, the base interpreter, the editable ``nnlib``/``nncourse``
  source folders), and a copy of its own submission folder (``/submission``);
- write only: a scratch copy of that folder (a size-limited tmpfs, its working directory,
  ``/home/student/<assignment>``), a private ``/tmp`` and ``/dev/shm`` (size-limited tmpfs too);
  the sandbox's root and ``/dev`` are remounted read-only, and the grader's private folder (the
  connection file, the kernel's log) is bound read-only: nothing the kernel writes reaches the
  host's disk, and all it can fill is bounded (the log, written through a descriptor opened
  outside, by ``RLIMIT_FSIZE``);
- not at all: the repository (``solutions/``, ``autograder/`` with the gradebook, the submitted,
  autograded and feedback folders and the course secret, ``course/``), other students' work,
  the instructor's home, the network (own network namespace: the kernel speaks to nbgrader over
  Unix sockets, ZeroMQ's ``ipc`` transport, which it creates in its own ``/tmp`` and the grader
  reaches through ``/proc/<pid>/root``), other processes (own PID
  namespace; when the kernel ends, everything it started is killed with it), inherited file
  descriptors (closed before the sandbox starts);
- bounded: address space, processes, open files, file size, CPU seconds, no core dumps; as
  root, the sandbox runs as the unprivileged ``nobody`` with every capability dropped.

The working directory comes first on ``sys.path`` in plain Python; the kernel runs with
``python -P`` (IPython then adds no ``''`` either) and imports ``numpy``, ``nnlib`` and
``nncourse`` before any cell runs, so a ``numpy.py`` or ``nncourse/`` folder shipped beside the
notebook is never what the checks import.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Unicode

HERE = Path(__file__).resolve().parent
#: The per-course secret the hidden seeds are mixed with (git-ignored, never in the sandbox).
SECRET_FILE = HERE / "course_secret"

#: Resource limits of a sandboxed kernel (see ``setrlimit(2)``).
LIMITS = {
    "RLIMIT_AS": 4 * 1024**3,  # address space: 4 GiB
    "RLIMIT_NPROC": 256,  # processes and threads (of the sandbox's user)
    "RLIMIT_NOFILE": 1024,
    "RLIMIT_FSIZE": 256 * 1024**2,  # largest file it may write
    "RLIMIT_CPU": 600,  # CPU seconds, a backstop: the notebook's total limit comes first
    "RLIMIT_CORE": 0,
}
#: Size of the scratch working directory and of /tmp (tmpfs, in memory).
SCRATCH_BYTES = 256 * 1024**2
#: Size of /dev/shm (POSIX shared memory and semaphores, e.g. multiprocessing's locks).
SHM_BYTES = 64 * 1024**2
NOBODY = 65534
#: Where the scratch copy of the submission is, inside the sandbox.
WORKDIR = "/home/student"

#: /etc entries a Python kernel needs (the rest of /etc is not visible).
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
       "nsswitch.conf", "hosts", "fonts", "alternatives", "mime.types", "timezone"]
#: Environment variables passed into the sandbox, if set (everything else is dropped).
PASSED_ENV = ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "MPLBACKEND", "OMP_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NBGRADER_EXECUTION",
              "NNCOURSE_HIDDEN_SALT", "PYDEVD_DISABLE_FILE_VALIDATION"]

# Runs first, outside the sandbox, with the interpreter isolated (-I -S: no site, no cwd).
_CLOSER = """
import json, os, resource, sys
os.closerange(3, 1 << 16)
limits, drop = json.loads(sys.argv[1]), sys.argv[2] == "drop"
log = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
for name, value in limits.items():
    if name == "RLIMIT_NPROC" and not drop and os.getuid() != 0:
        # the count is per real user: leave room for what this user already runs
        value += sum(1 for p in os.listdir("/proc")
                     if p.isdigit() and os.stat("/proc/" + p).st_uid == os.getuid())
    resource.setrlimit(getattr(resource, name), (value, value))
argv = sys.argv[5:]
if sys.argv[4] and os.getuid() == 0 and not drop:
    # root stays uid 0 (without capabilities) in the sandbox and RLIMIT_NPROC does not bind
    # root: a pids cgroup bounds its processes instead, where one can be made
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        group = os.path.join(base, sys.argv[4])
        try:
            os.mkdir(group)
            with open(os.path.join(group, "pids.max"), "w") as fh:
                fh.write(str(limits["RLIMIT_NPROC"]))
            with open(os.path.join(group, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
            break
        except OSError:
            try:
                os.rmdir(group)
            except OSError:
                pass
if drop and os.getuid() == 0:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.dup2(log, 1)
os.dup2(log, 2)
os.execv(argv[0], argv)
""".replace("NOBODY", str(NOBODY))

# Runs inside the sandbox: the working directory is an empty tmpfs, /submission the copy.
# (HOME is /tmp/home, so nothing else lives under WORKDIR.)
_BOOT = """
import json, os, shutil, sys
# the kernel's Unix sockets live in the sandbox's own /tmp (the grader reaches them through
# /proc/<pid>/root): make their folder first, the grader waits for it
with open(sys.argv[sys.argv.index("-f") + 1]) as fh:
    os.makedirs(os.path.dirname(json.load(fh)["ip"]), mode=0o700, exist_ok=True)
for name in os.listdir("/submission"):
    src = os.path.join("/submission", name)
    (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, name)
for name in os.listdir("/cache/mpl") if os.path.isdir("/cache/mpl") else []:
    os.makedirs(os.environ["MPLCONFIGDIR"], exist_ok=True)
    shutil.copy(os.path.join("/cache/mpl", name), os.environ["MPLCONFIGDIR"])
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.getcwd()]
import numpy, nnlib, nncourse, nncourse.testing, nncourse.checks
from ipykernel.kernelapp import IPKernelApp
IPKernelApp.launch_instance()
"""

# Files nbgrader adds to a submission that the student's code has no business reading.
PRIVATE_FILES = {"submission_secret.txt"}


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


def bwrap() -> str | None:
    """The bubblewrap executable: ``$NNCOURSE_BWRAP`` if set (None if it does not exist), else
    ``bwrap`` on PATH."""
    chosen = os.environ.get("NNCOURSE_BWRAP")
    if chosen is not None:
        return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap")


_PROBED: dict[str, str | None] = {}


def unavailable_reason() -> str | None:
    """None when a sandbox can be created here, else why not (measured once per process)."""
    if "reason" in _PROBED:
        return _PROBED["reason"]
    reason = None
    exe = bwrap()
    if exe is None:
        reason = ("bubblewrap (`bwrap`) is not installed: `apt-get install bubblewrap` "
                  "(Debian/Ubuntu) or your distribution's package")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            give_to_sandbox_user(Path(tmp))
            argv = launch_command(["/bin/true"], cwd=Path(tmp), submission=Path(tmp),
                                  private=Path(tmp), env={})
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                log = (Path(tmp) / "kernel.log")
                detail = log.read_text()[-500:] if log.exists() else proc.stderr[-500:]
                reason = f"bubblewrap cannot create a sandbox here: {detail.strip()}"
    _PROBED["reason"] = reason
    return reason


def environment_paths() -> list[Path]:
    """Folders of the installed environment the kernel must read (and nothing of the repo)."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent}
    for name in ("nnlib", "nncourse"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths.update(Path(p) for p in spec.submodule_search_locations)
    out: list[Path] = []
    for path in sorted(p.resolve() for p in paths):
        if not any(path.is_relative_to(o) for o in out):  # the parents come first when sorted
            out.append(path)
    return out


def _matplotlib_cache() -> Path | None:
    base = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
    found = sorted(Path(base).glob("fontlist-*.json"))
    return found[-1] if found else None


def launch_command(cmd: list[str], *, cwd: Path, submission: Path, private: Path,
                   env: dict[str, str], cgroup: str | None = None) -> list[str]:
    """The command that runs ``cmd`` sandboxed, in ``cwd``, with a copy of ``submission``.

    ``private`` is a folder of the grader's (it holds the kernel's connection file and Unix
    sockets, and the kernel's own stdout/stderr log); it is the only host folder the sandbox
    may write to, besides its tmpfs.
    """
    exe = bwrap()
    if exe is None:
        raise SandboxUnavailable("bubblewrap is not installed")
    args = [exe, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--hostname", "grader", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp"]
    for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    sources = environment_paths()
    for path in sources:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", str(submission), "/submission"]
    cache = _matplotlib_cache()
    if cache is not None:
        args += ["--ro-bind", str(cache), f"/cache/mpl/{cache.name}"]
        sources.append(cache)
    # the grader's private folder (connection file, log): read-only, so nothing the kernel
    # writes lands on the host's disk
    args += ["--ro-bind", str(private), str(private)]
    # the scratch folder is named like the submission's, under a path that says nothing about
    # the course's layout (the autograder's own folders are not even mount points here)
    inside = f"{WORKDIR}/{cwd.name}"
    args += ["--size", str(SCRATCH_BYTES), "--tmpfs", inside, "--chdir", inside]
    # the root and /dev are tmpfs that bubblewrap leaves writable and unbounded (a sandbox that
    # keeps uid 0 could fill the machine's memory there): read-only, with a small /dev/shm
    args += ["--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--remount-ro", "/"]
    home = "/tmp/home"
    args += ["--clearenv", "--setenv", "HOME", home, "--setenv", "IPYTHONDIR", f"{home}/.ipython",
             "--setenv", "MPLCONFIGDIR", f"{home}/.matplotlib",
             "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "--setenv", "PYTHONSAFEPATH", "1", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
             "--setenv", "NNCOURSE_SANDBOX", "bubblewrap"]
    for name in PASSED_ENV:
        if name in env:
            args += ["--setenv", name, env[name]]
    args += ["--", *cmd]
    drop = sandbox_user() == NOBODY
    return [sys.executable, "-I", "-S", "-c", _CLOSER, json.dumps(LIMITS),
            "drop" if drop else "keep", str(private / "kernel.log"), cgroup or "", *args]


def sandbox_user() -> int | None:
    """``NOBODY`` when root can run the sandbox as nobody, else None (it keeps its own uid).

    As root, the sandbox drops to ``nobody`` when nobody can read the whole environment;
    bubblewrap resolves its bind sources as the user it runs as, so an interpreter under
    ``/root`` keeps uid 0 (with every capability dropped and only the allow-listed folders
    mounted) and a pids cgroup bounds its processes instead of RLIMIT_NPROC.
    """
    if os.getuid() != 0:
        return None
    sources = [*environment_paths(), *filter(None, [_matplotlib_cache()])]
    return NOBODY if all(_world_readable(p) for p in sources) else None


def give_to_sandbox_user(folder: Path) -> None:
    """Hand a private folder of the grader's to the user the sandbox runs as."""
    uid = sandbox_user()
    if uid is None:
        return
    for root, dirs, files in os.walk(folder):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, uid, uid)


def _world_readable(path: Path) -> bool:
    """Whether ``nobody`` can reach ``path`` (every parent searchable, the path readable)."""
    path = path.resolve()
    for parent in [*reversed(path.parents), path]:
        mode = parent.stat().st_mode
        if not mode & 0o001 and parent.is_dir():
            return False
    return bool(path.stat().st_mode & 0o004)


def course_secret(path: Path = SECRET_FILE) -> bytes:
    """The per-course secret, created (readable by the instructor only) on first use."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def hidden_salt(student: str, assignment: str, secret: bytes | None = None) -> str:
    """The salt of a student's hidden cases: an HMAC of the course secret, never in the repo."""
    key = course_secret() if secret is None else secret
    msg = f"{assignment}\x00{student}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def copy_submission(src: Path, dest: Path) -> None:
    """What the sandbox sees of a submission folder: everything but nbgrader's private files."""
    dest.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return
    for item in src.iterdir():
        if item.name in PRIVATE_FILES or item.is_symlink():
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, symlinks=False,
                            ignore=lambda d, names: [n for n in names
                                                     if os.path.islink(os.path.join(d, n))])
        else:
            shutil.copy(item, dest / item.name)


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel started inside bubblewrap, reached over Unix sockets.

    Set ``submission`` (the student's submitted folder) before starting it. With
    ``isolate=False`` it is a plain kernel that only gets the extra environment.
    """

    isolate = Bool(True)
    submission = Unicode("")
    extra_env = Dict()

    _private: Path | None = None
    _inner_ip: str = ""
    _client_context: Any = None

    async def _async_pre_start_kernel(self, **kw: Any):  # type: ignore[override]
        env = dict(kw.get("env") or os.environ)
        env.pop("JPY_PARENT_PID", None)  # its parent is the sandbox's init, not nbgrader
        env.update(self.extra_env)
        kw["env"] = env
        if self.isolate:
            _no_reconnect(self.context)  # the manager's own control socket
            self._private = Path(tempfile.mkdtemp(prefix="nncourse-kernel-"))
            self.transport = "ipc"
            self.connection_file = str(self._private / "kernel.json")
            # where the kernel makes its sockets, inside the sandbox (see _reach_sockets)
            self._inner_ip = f"/tmp/ipc-{secrets.token_hex(8)}/kernel"
            self.ip = self._inner_ip
            copy_submission(Path(self.submission), self._private / "submission")
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        if self.isolate:
            self.kernel_spec.interrupt_mode = "message"  # signals cannot cross --new-session
            give_to_sandbox_user(self._private)
            cwd = Path(kw.get("cwd") or os.getcwd())
            cmd = launch_command(self._boot_command(cmd), cwd=cwd,
                                 submission=self._private / "submission",
                                 private=self._private, env=kw["env"],
                                 cgroup=self._private.name)
        return cmd, kw

    async def _async_post_start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        if self.isolate and self._inner_ip:
            self.ip = await self._reach_sockets()
        await super()._async_post_start_kernel(**kw)

    post_start_kernel = _async_post_start_kernel  # type: ignore[assignment]

    async def _reach_sockets(self, timeout: float = 120.0) -> str:
        """The host's path to the kernel's sockets: ``/proc/<pid>/root`` of a process inside the
        sandbox, once the kernel has bound all its sockets there (before any cell runs; the
        random folder name tells the sandbox's root from a process that has not entered it).

        The grader connects once and never reconnects (``RECONNECT_IVL = -1``, see ``client``):
        a symbolic link the submission later puts in place of a socket is never followed (it
        would resolve against the host's root)."""
        process = getattr(self.provisioner, "process", None)
        deadline = asyncio.get_running_loop().time() + timeout
        while process is not None and process.poll() is None:
            for child in _children(process.pid):
                base = f"/proc/{child}/root{self._inner_ip}"
                if all(_is_socket(f"{base}-{port}") for port in self.ports):
                    return base
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        return self._inner_ip  # the kernel died or never booted: the client's timeout says so

    def client(self, **kwargs: Any) -> Any:
        """A client whose sockets never reconnect (see ``_reach_sockets``)."""
        if self.isolate and "context" not in kwargs:
            self._client_context = _no_reconnect(zmq.asyncio.Context())
            kwargs["context"] = self._client_context
        return super().client(**kwargs)

    def _boot_command(self, cmd: list[str]) -> list[str]:
        """``python -m ipykernel_launcher -f F ...`` -> ``python -P -c BOOT -f F ...``."""
        if "-m" in cmd and cmd[cmd.index("-m") + 1] in ("ipykernel_launcher", "ipykernel"):
            i = cmd.index("-m")
            return [cmd[0], "-P", "-c", _BOOT, *cmd[i + 2:]]
        raise SandboxUnavailable(f"not an ipykernel command: {cmd}")

    def kernel_log(self) -> str:
        """What the kernel process wrote to its own stdout/stderr (for diagnostics)."""
        if self._private is None:
            return ""
        log = self._private / "kernel.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._private is not None and not restart:
            for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
                group = os.path.join(base, self._private.name)
                for _ in range(50):  # empty once the killed processes are reaped
                    try:
                        os.rmdir(group)
                    except FileNotFoundError:
                        break
                    except OSError:
                        await asyncio.sleep(0.1)
                    else:
                        break
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None
        if self._client_context is not None and not restart:
            self._client_context.destroy(linger=0)
            self._client_context = None

    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]


def _no_reconnect(context: Any) -> Any:
    """Sockets made by ``context`` from now on connect once and never again."""
    context.setsockopt(zmq.RECONNECT_IVL, -1)
    return context


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (bubblewrap's child is inside the sandbox)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def describe() -> dict[str, Any]:
    """A summary of the sandbox for the run log."""
    return {"sandbox": "bubblewrap", "limits": LIMITS, "scratch_bytes": SCRATCH_BYTES,
            "shm_bytes": SHM_BYTES,
            "environment": [str(p) for p in environment_paths()]}


if __name__ == "__main__":  # python -m autograder.sandbox: can this machine isolate?
    why = unavailable_reason()
    print(json.dumps({"isolation": why is None, "reason": why, **describe()}, indent=1))
    sys.exit(0 if why is None else 1)
