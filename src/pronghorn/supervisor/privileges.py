"""Who the workers run as: --user, --group, --initgroups and --umask.

Owns: `resolve`, which turns those settings into ids once, when the server starts (before it
binds and before --preload imports anything), and refuses what cannot be honoured with a
`ConfigError`: an unknown user or group, a switch that needs root when not root. `drop`,
what a worker does after the fork and before it loads the application: supplementary groups,
then the gid, then the uid (in that order: once the uid is gone, nothing else can change),
then a check that root cannot be regained. And `give_log_files`: the master gives the log
files to the workers' user, as gunicorn does, so a worker can reopen them on USR1.

The heartbeat needs nothing: it is an anonymous shared mapping made before the fork (no
file, no permission), so a worker writes it after the switch as before.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

from pronghorn.config.model import Config
from pronghorn.errors import ConfigError
from pronghorn.io.listeners import unix_socket_mode


class PrivilegeError(RuntimeError):
    """A worker could not switch user, or could switch back: it must not serve."""


@dataclass(frozen=True, slots=True)
class Privileges:
    """The resolved settings. `uid`/`gid` None: the workers keep the master's."""

    uid: int | None = None
    gid: int | None = None
    username: str | None = None
    initgroups: bool = False
    umask: int | None = None

    @property
    def switches(self) -> bool:
        """Whether a worker changes user or group after the fork."""
        return self.uid is not None or self.gid is not None

    @property
    def socket_mode(self) -> int:
        """The mode of a unix:PATH socket file."""
        return unix_socket_mode(self.umask)

    @property
    def owner(self) -> tuple[int, int]:
        """(uid, gid) for chown: -1 where nothing changes."""
        return (-1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)

    def describe(self) -> str:
        """`uid 1001 (www), gid 1001` for the log."""
        user = f"uid {self.uid}" + (f" ({self.username})" if self.username else "")
        parts = [user] if self.uid is not None else []
        if self.gid is not None:
            parts.append(f"gid {self.gid}")
        return ", ".join(parts)


def resolve(config: Config) -> Privileges:
    """The ids `config` names; a `ConfigError` when they cannot be used here."""
    uid = gid = None
    username = None
    if config.user is not None:
        entry = _user_entry(config.user)
        uid = entry.pw_uid if entry else int(config.user)
        username = entry.pw_name if entry else None
        if config.group is None:
            if entry is None:
                raise ConfigError(
                    f"option --user: user id {uid} is not in the user database, so it has "
                    "no primary group: give --group too"
                )
            gid = entry.pw_gid
    if config.group is not None:
        gid = _group_id(config.group)
    if config.initgroups and username is None:
        raise ConfigError(
            f"option --initgroups: user id {uid} has no name in the user database, "
            "so it has no groups to set"
        )
    wanted = Privileges(uid, gid, username, config.initgroups, config.umask)
    if os.geteuid() == 0:
        return wanted
    if uid in (None, os.geteuid()) and gid in (None, os.getegid()) and not config.initgroups:
        # Already the one asked for (gunicorn does nothing in that case either).
        return Privileges(umask=config.umask)
    if uid not in (None, os.geteuid()):
        option, asked = "--user", config.user
    elif gid not in (None, os.getegid()):
        option, asked = "--group", config.group
    else:
        option, asked = "--initgroups", "true"
    raise ConfigError(
        f"option {option} {asked}: switching the workers to another user or group needs "
        f"root, and pronghorn runs as uid {os.geteuid()}. Start it as root (the master "
        f"binds, then the workers switch), or leave {option} out."
    )


def _user_entry(name: str) -> pwd.struct_passwd | None:
    """The user database entry for a name or numeric id; None for a bare id it lacks."""
    try:
        return pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        if name.isdigit():
            return None
        raise ConfigError(f"option --user: no such user: {name!r}") from None


def _group_id(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"option --group: no such group: {name!r}") from None


def drop(privileges: Privileges) -> None:
    """In a worker, before the app is loaded: set the umask and switch user and group.

    Raises `PrivilegeError` when the switch fails or could be undone."""
    if privileges.umask is not None:
        os.umask(privileges.umask)
    if not privileges.switches:
        return
    try:
        if privileges.initgroups and privileges.username is not None:
            gid = os.getgid() if privileges.gid is None else privileges.gid
            os.initgroups(privileges.username, gid)
        else:
            os.setgroups([])  # not even root's supplementary groups stay
        if privileges.gid is not None:
            os.setgid(privileges.gid)  # as root: real, effective and saved
        if privileges.uid is not None:
            os.setuid(privileges.uid)
    except OSError as exc:
        raise PrivilegeError(f"cannot switch to {privileges.describe()}: {exc}") from None
    _check(privileges)


def _check(privileges: Privileges) -> None:
    """Every id (real, effective, saved) is the asked one, and root cannot come back."""
    if privileges.uid is not None and set(os.getresuid()) != {privileges.uid}:
        raise PrivilegeError(f"user ids are {os.getresuid()} after switching to {privileges.uid}")
    if privileges.gid is not None and set(os.getresgid()) != {privileges.gid}:
        raise PrivilegeError(f"group ids are {os.getresgid()} after switching to {privileges.gid}")
    if privileges.uid in (None, 0):
        return
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise PrivilegeError(f"root could be regained after switching to uid {privileges.uid}")


def give_log_files(config: Config, privileges: Privileges) -> None:
    """Master: give the error and access log files to the workers' user and group, so that
    the workers can reopen them after rotation (USR1). Only regular files: never a device
    such as /dev/null; a file that cannot be changed is left as it is."""
    if not privileges.switches:
        return
    for path in (config.error_logfile, config.access_logfile):
        if path is None or path == "-":
            continue
        try:
            if stat.S_ISREG(os.stat(path).st_mode):
                os.chown(path, *privileges.owner)
        except OSError:
            continue
