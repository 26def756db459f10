#!/usr/bin/python3
"""Runs a command under the seccomp part of a systemd unit's sandbox, without systemd.

    seccomp-run.py UNIT_FILE COMMAND [ARG]...

Where systemd is not PID 1 (a container, CI), a unit's SystemCallFilter= cannot be tried with
systemd-run. This applies what the unit's seccomp settings would, and execs COMMAND:

* SystemCallFilter= lines, the groups expanded by `systemd-analyze syscall-filter` (the
  installed systemd's own lists), an allow list with `~` lines removed from it;
  SystemCallArchitectures=native (libseccomp's default: other ABIs are refused);
* RestrictAddressFamilies=: socket() of any other family fails with EAFNOSUPPORT;
* RestrictNamespaces=yes: unshare() and setns() fail with EPERM, and so does clone() with a
  CLONE_NEW* flag; clone3() fails with ENOSYS (systemd's way: glibc falls back to clone());
* NoNewPrivileges=yes (set by libseccomp before loading the filter).

Stricter than the unit in one way: a system call outside the allow list kills the process
(the unit says SystemCallErrorNumber=EPERM), so a command that passes here makes no refused
call at all. Not applied: the mount-namespace settings (ProtectSystem=, PrivateTmp=, …),
DynamicUser=, PrivateUsers=, LockPersonality=, RestrictRealtime= and capabilities.
Needs python3-seccomp (apt) and systemd-analyze (package systemd).
"""

import errno
import os
import re
import subprocess
import sys

import seccomp

FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
CLONE_NEW = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}


def unit_settings(path):
    """The values of every `Key=value` line of the unit, in order, by key."""
    settings = {}
    with open(path, encoding="utf-8") as unit:
        for line in unit:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")) or "=" not in line:
                continue
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def expand(names, seen=None):
    """The system calls of `names` (calls and @groups), groups expanded recursively."""
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if not name.startswith("@"):
            calls.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        listing = subprocess.run(
            ["systemd-analyze", "syscall-filter", name],
            check=True, capture_output=True, text=True,
        ).stdout
        members = [
            line.strip() for line in listing.splitlines()[1:]
            if line.strip() and not line.strip().startswith("#")
        ]
        calls |= expand(members, seen)
    return calls


def allowed_calls(settings):
    allowed = None
    for value in settings.get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = value.lstrip("~").split()
        if not deny:
            allowed = (allowed or set()) | expand(names)
        elif allowed is not None:
            allowed -= expand(names)
    if allowed is None:
        sys.exit("seccomp-run: the unit has no SystemCallFilter= allow list")
    return allowed


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    settings = unit_settings(sys.argv[1])
    command = sys.argv[2:]

    limits = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    families = settings.get("RestrictAddressFamilies", [])
    if families:
        allowed = sorted(FAMILIES[f] for v in families for f in v.split())
        refuse = seccomp.ERRNO(errno.EAFNOSUPPORT)
        for family in range(0, allowed[-1]):
            if family not in allowed:
                limits.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, family))
        limits.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.GT, allowed[-1]))
    if settings.get("RestrictNamespaces", ["no"])[-1] in ("yes", "true", "1"):
        for call in ("unshare", "setns"):
            limits.add_rule(seccomp.ERRNO(errno.EPERM), call)
        for flag in CLONE_NEW.values():
            limits.add_rule(seccomp.ERRNO(errno.EPERM), "clone",
                            seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        limits.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    calls = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
    for call in sorted(allowed_calls(settings)):
        try:
            calls.add_rule(seccomp.ALLOW, call)
        except (RuntimeError, ValueError, OSError):
            pass  # not a system call of this architecture
    # Loaded last, as systemd does just before exec: loading a filter is not a call the unit's
    # filter allows.
    limits.load()
    calls.load()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
