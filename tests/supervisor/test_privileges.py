"""--user, --group, --umask and --initgroups for real: the master binds as root, the workers
switch user after the fork and before loading the app, and cannot switch back.

These tests need root (CI and the development machines run them as root): each makes a
throwaway user and two groups with useradd/groupadd and removes them afterwards. Processes
are only looked at through the master the test started (its children), never by name.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from svtools import BIND, ENV, children, get, wait_until

from pronghorn.config import load_config
from pronghorn.supervisor.privileges import give_log_files, resolve
from serverproc import Serve

APP = """\
import os


def app(environ, start_response):
    if environ["PATH_INFO"] == "/write":
        with open(os.path.join({out!r}, "made-by-app"), "w") as file:
            file.write("x")
    groups = ",".join(str(g) for g in sorted(os.getgroups()))
    body = f"{{os.getuid()}} {{os.geteuid()}} {{os.getgid()}} [{{groups}}]".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


@dataclass(frozen=True)
class Account:
    """A throwaway user, its primary group and one supplementary group."""

    name: str
    uid: int
    gid: int
    extra_group: str
    extra_gid: int


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def account() -> Iterator[Account]:
    assert os.geteuid() == 0, (
        "tests/supervisor/test_privileges.py switches users and must run as root "
        "(as CI does): run pytest as root"
    )
    name = f"phg{uuid.uuid4().hex[:10]}"
    extra = f"{name}x"
    made: list[tuple[str, ...]] = []
    try:
        _run("groupadd", name)
        made.append(("groupdel", name))
        _run("groupadd", extra)
        made.append(("groupdel", extra))
        _run("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "--gid", name, "--groups", extra, name)  # fmt: skip
        made.append(("userdel", name))
        entry = pwd.getpwnam(name)
        yield Account(name, entry.pw_uid, entry.pw_gid, extra, grp.getgrnam(extra).gr_gid)
    finally:
        left = []
        for command in reversed(made):
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
            if done.returncode != 0 and "does not exist" not in done.stderr:
                left.append(f"{' '.join(command)}: {done.stderr.strip()}")
        assert not left, f"the throwaway user or groups could not be removed: {left}"


@pytest.fixture
def serve(account: Account, serve: Serve) -> Serve:
    """The servers of these tests: set up after `account`, so stopped before it is removed
    (userdel refuses a user that still runs processes)."""
    return serve


@pytest.fixture
def site(account: Account) -> Iterator[Path]:
    """A directory every user can read (pytest's tmp_path is root's alone), holding the app
    and `out/`, which belongs to the throwaway user, for the app to write in."""
    directory = Path(tempfile.mkdtemp(prefix="pronghorn-priv-"))
    try:
        directory.chmod(0o755)
        out = directory / "out"
        out.mkdir()
        os.chown(out, account.uid, account.gid)
        (directory / "privapp.py").write_text(APP.format(out=str(out)))
        (directory / "privapp.py").chmod(0o644)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _ids(pid: int) -> dict[str, list[int]]:
    """The Uid, Gid (real, effective, saved, filesystem) and Groups lines of /proc/PID/status."""
    found: dict[str, list[int]] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            found[key] = [int(part) for part in value.split()]
    return found


def _workers(master: int, count: int) -> set[int]:
    assert wait_until(lambda: len(children(master)) == count, 10), children(master)
    return children(master)


def _as_user(account: Account, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", account.name, "--", *argv],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_workers_switch_user_and_cannot_switch_back(
    serve: Serve, account: Account, site: Path
) -> None:
    sock = site / "app.sock"
    server = serve(
        *BIND, "-b", f"unix:{sock}", "-w", "2", "--user", account.name, "--umask", "027",
        "privapp:app", cwd=site, env=ENV,
    )  # fmt: skip
    assert server.wait_for_log("Ready: 2 worker(s)")
    assert f"Workers run as uid {account.uid} ({account.name}), gid {account.gid}" in (
        server.log_text()
    )
    master = _ids(server.pid)
    assert master["Uid"] == [0, 0, 0, 0]  # the master stays root
    for pid in _workers(server.pid, 2):
        ids = _ids(pid)
        # Real, effective, saved and filesystem ids: nothing left to switch back with.
        assert ids["Uid"] == [account.uid] * 4, ids
        assert ids["Gid"] == [account.gid] * 4, ids
        assert ids["Groups"] == [], ids  # no --initgroups: not even root's groups
    status, body = get(server.host, server.port, "/write")
    assert (status, body) == (200, f"{account.uid} {account.uid} {account.gid} []")
    made = (site / "out" / "made-by-app").stat()
    assert (made.st_uid, made.st_gid) == (account.uid, account.gid)
    assert stat.S_IMODE(made.st_mode) == 0o640  # 0666 less --umask 027
    # The socket: 0777 less --umask, the workers' user, and that user may connect.
    info = sock.stat()
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o750
    assert (info.st_uid, info.st_gid) == (account.uid, account.gid)
    curl = _as_user(account, "curl", "-sS", "--unix-socket", str(sock), "http://x/")
    assert curl.stdout == f"{account.uid} {account.uid} {account.gid} []", curl.stderr
    assert server.stop() == 0
    assert not sock.exists()


def test_hup_respawned_workers_switch_too(serve: Serve, account: Account, site: Path) -> None:
    server = serve(*BIND, "--user", account.name, "privapp:app", cwd=site, env=ENV)
    assert server.wait_for_log("Ready: 1 worker(s)")
    (old,) = _workers(server.pid, 1)
    os.kill(server.pid, signal.SIGHUP)
    server.wait_for_log("Reload complete")
    assert wait_until(lambda: old not in children(server.pid), 10)
    (new,) = _workers(server.pid, 1)
    assert _ids(new)["Uid"] == [account.uid] * 4
    assert get(server.host, server.port)[1].startswith(f"{account.uid} ")
    assert server.stop() == 0  # a graceful stop after the switch


def test_reuse_port_sockets_are_bound_before_the_switch(
    serve: Serve, account: Account, site: Path
) -> None:
    server = serve(
        *BIND, "--reuse-port", "-w", "2", "--user", account.name, "privapp:app",
        cwd=site, env=ENV,
    )  # fmt: skip
    assert server.wait_for_log("Ready: 2 worker(s)")
    for pid in _workers(server.pid, 2):
        assert _ids(pid)["Uid"] == [account.uid] * 4
    assert get(server.host, server.port)[1].startswith(f"{account.uid} ")
    assert server.stop() == 0


def test_group_sets_the_workers_and_the_sockets_group(
    serve: Serve, account: Account, site: Path
) -> None:
    sock = site / "app.sock"
    server = serve(
        *BIND, "-b", f"unix:{sock}", "--user", account.name, "--group", account.extra_group,
        "privapp:app", cwd=site, env=ENV,
    )  # fmt: skip
    assert server.wait_for_log("Ready: 1 worker(s)")
    (worker,) = _workers(server.pid, 1)
    assert _ids(worker)["Gid"] == [account.extra_gid] * 4
    info = sock.stat()
    assert stat.S_IMODE(info.st_mode) == 0o660  # the default without --umask
    assert (info.st_uid, info.st_gid) == (account.uid, account.extra_gid)
    curl = _as_user(account, "curl", "-sS", "--unix-socket", str(sock), "http://x/")
    assert curl.stdout.startswith(f"{account.uid} "), curl.stderr
    # Someone neither the owner nor in the group is refused by the file's mode.
    nobody = pwd.getpwnam("nobody")
    connect = f"socket.socket(socket.AF_UNIX).connect({str(sock)!r})"
    stranger = _python_as(nobody.pw_uid, nobody.pw_gid, connect, cwd=site)
    assert "PermissionError" in stranger.stderr, stranger
    assert server.stop() == 0


def test_initgroups_gives_the_users_groups(serve: Serve, account: Account, site: Path) -> None:
    server = serve(
        *BIND, "--user", account.name, "--initgroups", "privapp:app", cwd=site, env=ENV
    )  # fmt: skip
    assert server.wait_for_log("Ready: 1 worker(s)")
    (worker,) = _workers(server.pid, 1)
    assert sorted(_ids(worker)["Groups"]) == sorted({account.gid, account.extra_gid})
    assert server.stop() == 0


def test_gunicorn_conf_py_user_is_honoured(serve: Serve, account: Account, site: Path) -> None:
    conf = site / "gunicorn.conf.py"
    conf.write_text(f'bind = "127.0.0.1:0"\nuser = "{account.name}"\numask = 0o22\n')
    server = serve("-c", str(conf), "privapp:app", cwd=site, env=ENV)
    assert server.wait_for_log("Ready: 1 worker(s)")
    assert "not supported" not in server.log_text()
    (worker,) = _workers(server.pid, 1)
    assert _ids(worker)["Uid"] == [account.uid] * 4
    assert server.stop() == 0


def _python_as(
    uid: int, gid: int, code: str, cwd: Path, imports: str = "socket"
) -> subprocess.CompletedProcess[str]:
    """Run `code` in this Python as `uid`/`gid`. Not under runuser: this interpreter may live
    where only root can read (pyenv under /root), so it starts as root, imports what `code`
    needs, then gives up root for good before running it."""
    switch = f"os.setgroups([]); os.setgid({gid}); os.setuid({uid})"
    program = "\n".join((f"import os, sys, {imports}", switch, code))
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=cwd, capture_output=True, text=True, timeout=30, env={**os.environ, **ENV},
    )  # fmt: skip


def _pronghorn(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pronghorn", *argv],
        cwd=cwd, capture_output=True, text=True, timeout=30, env={**os.environ, **ENV},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("option", "message"),
    [("--user", "option --user: no such user"), ("--group", "option --group: no such group")],
)
def test_unknown_user_or_group_stops_the_start(
    account: Account, site: Path, option: str, message: str
) -> None:
    done = _pronghorn(*BIND, option, f"{account.name}-none", "privapp:app", cwd=site)
    assert done.returncode == 2, done
    assert message in done.stderr
    assert "Listening" not in done.stderr  # nothing was bound


def test_user_when_not_root_is_an_error(account: Account, site: Path) -> None:
    argv = [*BIND, "--user", "root", "privapp:app"]
    imports = "pronghorn.cli, pronghorn.supervisor, pronghorn.supervisor.privileges"
    run = f"sys.exit(pronghorn.cli.main({argv!r}))"
    done = _python_as(account.uid, account.gid, run, cwd=site, imports=imports)
    assert done.returncode == 2, done
    assert "option --user root: switching the workers to another user or group needs root" in (
        done.stderr
    )
    assert f"runs as uid {account.uid}" in done.stderr
    # Naming the user already running is no switch at all: that is allowed (as gunicorn).
    assert resolve(load_config(["--user", "root", "app:app"], {})).uid == 0


def test_log_files_are_given_to_the_workers_user(account: Account, site: Path) -> None:
    error_log, access_log = site / "error.log", site / "access.log"
    error_log.write_text("")
    access_log.write_text("")
    config = load_config(
        ["--user", account.name, "--error-logfile", str(error_log),
         "--access-logfile", str(access_log), "app:app"],
        {},
    )  # fmt: skip
    give_log_files(config, resolve(config))
    for path in (error_log, access_log):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (account.uid, account.gid)
    before = os.stat("/dev/null")
    config = load_config(["--user", account.name, "--error-logfile", "/dev/null", "app:app"], {})
    give_log_files(config, resolve(config))
    assert os.stat("/dev/null").st_uid == before.st_uid  # a device is never given away


def test_preload_imports_as_root_then_workers_switch(
    serve: Serve, account: Account, site: Path
) -> None:
    server = serve(*BIND, "--preload", "--user", account.name, "privapp:app", cwd=site, env=ENV)
    assert server.wait_for_log("Ready: 1 worker(s)")
    (worker,) = _workers(server.pid, 1)
    assert _ids(worker)["Uid"] == [account.uid] * 4
    assert get(server.host, server.port)[1].startswith(f"{account.uid} {account.uid} ")
    assert server.stop() == 0
