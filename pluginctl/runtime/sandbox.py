"""The operating-system sandbox a worker applies to itself before it imports plugin code.

Layers, each probed on this kernel and reported, never skipped silently:

- ``no_new_privs``: no privilege gained through set-uid programs (and the ticket
  the two layers below need to work without root).
- Landlock: the file system shrinks to what the plugin needs — its code, the Python
  installation and system libraries read-only, its own data directory read-write,
  ``/dev/null`` and ``/dev/urandom`` — and, from Landlock ABI 4, no TCP at all (the
  host makes outbound HTTP requests for it); from ABI 6, no signals to processes
  outside the sandbox and no abstract Unix sockets.
- seccomp (through libseccomp): creating internet sockets, starting processes
  (``fork``, ``vfork``, a ``clone`` that is not a thread) and executing programs fail
  with ``EPERM`` (a ``PermissionError`` in the plugin), so a fork bomb goes nowhere
  while threads still start (``clone3`` answers ``ENOSYS``, and the C library falls
  back to ``clone``, which seccomp can check); tracing other processes, reading
  their memory, loading BPF or kernel modules, mounting and the kernel keyring end
  the worker (``SIGSYS``), and the host says why.

`probe` tells what this machine supports (``pluginctl doctor`` prints it);
`apply_sandbox` applies what it can and returns a `SandboxReport`.
"""

from __future__ import annotations

import ctypes
import errno
import mimetypes
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

__all__ = [
    "SandboxPolicy",
    "SandboxReport",
    "apply_sandbox",
    "default_read_paths",
    "prepare_seccomp",
    "probe",
]

# -- Landlock (linux/landlock.h) ----------------------------------------------------------

_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE_CHAR = 1 << 6
_FS_MAKE_DIR = 1 << 7
_FS_MAKE_REG = 1 << 8
_FS_MAKE_SOCK = 1 << 9
_FS_MAKE_FIFO = 1 << 10
_FS_MAKE_BLOCK = 1 << 11
_FS_MAKE_SYM = 1 << 12
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FS_ALL_V1 = (1 << 13) - 1
_PR_SET_NO_NEW_PRIVS = 38


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class SandboxPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What one plugin's worker may reach once sandboxed.

    Attributes:
        read: Directories (and files) it may read and execute from: its code.
        write: Directories it may read and write: its data directory.
        enabled: Whether to apply it at all: the host turns it on for every plugin
            it starts; off, a worker (the zygote's rehearsal, say) stays as it is.
    """

    read: list[str] = []
    write: list[str] = []
    enabled: bool = False


@dataclass(frozen=True, slots=True)
class SandboxReport:
    """Which layers are in place, and why any is not."""

    layers: dict[str, str] = field(default_factory=dict)  # layer -> what it does here
    missing: dict[str, str] = field(default_factory=dict)  # layer -> why not

    def to_dict(self) -> dict[str, object]:
        return {"layers": dict(self.layers), "missing": dict(self.missing)}


def probe() -> SandboxReport:
    """What this machine supports, without restricting anything."""
    report = SandboxReport()
    if not sys.platform.startswith("linux"):
        why = f"the sandbox needs Linux; this is {sys.platform}"
        return SandboxReport({}, {"no_new_privs": why, "landlock": why, "seccomp": why})
    report.layers["no_new_privs"] = "available"
    abi = _landlock_abi()
    if abi > 0:
        report.layers["landlock"] = f"ABI {abi}: {_landlock_scope(abi)}"
    else:
        report.missing["landlock"] = _landlock_missing(abi)
    seccomp = _load_seccomp()
    if isinstance(seccomp, str):
        report.missing["seccomp"] = seccomp
    else:
        report.layers["seccomp"] = "available (libseccomp)"
    return report


def default_read_paths(code: list[str]) -> list[str]:
    """What every worker must read: its code, the Python installation, system libraries.

    Also the files the standard library reads on first use: TLS certificates, the
    time zone, and the MIME type tables (``mimetypes`` reads them when anything, such
    as openpyxl at import, first asks it a question).
    """
    paths = {*code, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p)  # the standard library and site-packages
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo"))
    paths.update(("/etc/ssl", "/etc/localtime", "/dev/null", "/dev/urandom", "/dev/random"))
    paths.update(map(str, mimetypes.knownfiles))  # the MIME tables mimetypes reads first
    paths.add(f"/proc/{os.getpid()}")
    return sorted(path for path in paths if Path(path).exists())


def apply_sandbox(policy: SandboxPolicy) -> SandboxReport:
    """Sandbox the calling process: every layer this kernel supports, each reported."""
    report = SandboxReport()
    if not policy.enabled:
        report.missing.update(dict.fromkeys(("no_new_privs", "landlock", "seccomp"), "turned off"))
        return report
    if not sys.platform.startswith("linux"):
        return probe()
    prepare_seccomp()  # first: finding libseccomp runs ldconfig, which Landlock forbids
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        report.missing["no_new_privs"] = os.strerror(ctypes.get_errno())
    else:
        report.layers["no_new_privs"] = "set"
    _apply_landlock(libc, policy, report)
    _apply_seccomp(report)
    return report


def _landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return int(abi) if abi > 0 else -ctypes.get_errno()


def _landlock_missing(abi: int) -> str:
    if -abi == errno.ENOSYS:
        return "this kernel has no Landlock (Linux 5.13 or newer, built with it)"
    if -abi == errno.EOPNOTSUPP:
        return "Landlock is built in but turned off (add landlock to the lsm= boot option)"
    return f"Landlock is unavailable: {os.strerror(-abi)}"


def _landlock_scope(abi: int) -> str:
    parts = ["files: code read-only, data directory read-write"]
    parts.append("no TCP" if abi >= 4 else "TCP not restricted (needs ABI 4)")
    if abi >= 6:
        parts.append("no signals or abstract sockets outside")
    return "; ".join(parts)


def _handled_fs(abi: int) -> int:
    handled = _FS_ALL_V1
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
    if abi >= 5:
        handled |= _FS_IOCTL_DEV
    return handled


def _apply_landlock(libc: ctypes.CDLL, policy: SandboxPolicy, report: SandboxReport) -> None:
    abi = _landlock_abi()
    if abi <= 0:
        report.missing["landlock"] = _landlock_missing(abi)
        return
    handled = _handled_fs(abi)
    attr = _RulesetAttr(
        handled,
        _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
        _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0,
    )
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        report.missing["landlock"] = f"cannot create a ruleset: {os.strerror(ctypes.get_errno())}"
        return
    try:
        read_only = _FS_READ & handled
        read_write = handled & ~(_FS_MAKE_CHAR | _FS_MAKE_BLOCK)
        for path in policy.read:
            _allow(libc, ruleset, path, read_only)
        for path in policy.write:
            _allow(libc, ruleset, path, read_write)
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            why = os.strerror(ctypes.get_errno())
            report.missing["landlock"] = f"cannot restrict the worker: {why}"
            return
    finally:
        os.close(ruleset)
    report.layers["landlock"] = f"ABI {abi}: {_landlock_scope(abi)}"


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone since it was listed: nothing to allow
    try:
        if not Path(path).is_dir():  # files take file rights only
            access &= _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
        rule = _PathBeneathAttr(access, fd)
        libc.syscall(
            _SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
    finally:
        os.close(fd)


# -- seccomp ---------------------------------------------------------------------------

_REFUSED = ("execve", "execveat", "fork", "vfork")  # EPERM: a PermissionError in the plugin
_CLONE_THREAD = 0x00010000  # linux/sched.h: a clone without it makes a process, not a thread
_FATAL = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "mount",
    "umount2",
    "pivot_root",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
)


def _load_seccomp() -> object:
    try:
        import pyseccomp  # type: ignore[import-untyped]  # no stubs
    except (ImportError, OSError, RuntimeError) as exc:  # RuntimeError: no libseccomp found
        return f"libseccomp cannot be loaded: {exc}"
    return pyseccomp


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_program: bytes | str | None = None  # the compiled filter, or why there is none


def prepare_seccomp() -> bytes | str:
    """Compile the worker's seccomp filter to BPF once (the zygote does, before forking).

    Compiling with libseccomp takes a millisecond or two; loading the compiled
    program in each worker takes microseconds. Returns the program, or why not.
    """
    global _program  # noqa: PLW0603  # one program per process, made once
    if _program is not None:
        return _program
    seccomp = _load_seccomp()
    if isinstance(seccomp, str):
        _program = seccomp
        return _program
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)  # type: ignore[attr-defined]
        eperm = seccomp.ERRNO(errno.EPERM)  # type: ignore[attr-defined]
        for family in (socket.AF_INET, socket.AF_INET6):
            arg = seccomp.Arg(0, seccomp.EQ, family)  # type: ignore[attr-defined]
            rules.add_rule(eperm, "socket", arg)
        for name in _REFUSED:
            rules.add_rule(eperm, name)
        # clone makes threads (CLONE_THREAD set) and processes (unset): only threads go.
        # clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes
        # glibc fall back to clone for threads (and for fork and posix_spawn, refused).
        no_thread = seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0)  # type: ignore[attr-defined]
        rules.add_rule(eperm, "clone", no_thread)
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # type: ignore[attr-defined]
        for name in _FATAL:
            rules.add_rule(seccomp.KILL_PROCESS, name)  # type: ignore[attr-defined]
        import tempfile

        with tempfile.TemporaryFile() as compiled:
            rules.export_bpf(compiled)
            compiled.seek(0)
            _program = compiled.read()
    except (OSError, RuntimeError, ValueError) as exc:
        _program = f"cannot compile the filter: {exc}"
    return _program


def _apply_seccomp(report: SandboxReport) -> None:
    program = prepare_seccomp()
    if isinstance(program, str):
        report.missing["seccomp"] = program
        return
    import platform

    number = _SYS_SECCOMP.get(platform.machine())
    if number is None:
        report.missing["seccomp"] = f"no seccomp syscall number for {platform.machine()}"
        return
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    flags = _SECCOMP_FILTER_FLAG_TSYNC
    if libc.syscall(number, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog)) != 0:
        report.missing["seccomp"] = f"cannot load the filter: {os.strerror(ctypes.get_errno())}"
        return
    report.layers["seccomp"] = (
        "no internet sockets, no new processes or programs (threads only);"
        " ptrace, bpf, mount, modules end it"
    )
