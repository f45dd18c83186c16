"""The places the service really runs, for running tests/security in each.

The suite itself runs in one: as root (CI), or as whoever runs it. From
root, `run_security_suite` runs tests/security's own tests again in the
other two, as the service would be started there:

- "unprivileged": a system user made for the tests, Debian's /usr/bin/python3
  (the pyenv interpreters under /root are not readable by other users), a
  venv of it with the pinned requirements, and a copy of the project in a
  directory that user can read, with the C loops built for that interpreter;
- "no_namespaces": the same unprivileged user, in a process where the kernel
  refuses new namespaces (a seccomp filter of the test's own refuses
  `unshare` and `clone` with namespace flags, as Docker's default profile
  does in a container that is not privileged): no empty root can be made,
  and Landlock alone must hide the host's files;
- "gvisor": the same interpreter and checkout as this run, inside gVisor
  (`runsc --network=none do`), as Cloud Run's first-generation environment.
"""

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CURRENT = os.environ.get("TRACER_TEST_ENVIRONMENT") or ("root" if os.getuid() == 0 else "unprivileged")
OTHERS = ("unprivileged", "no_namespaces", "gvisor") if CURRENT == "root" else ()
SECURITY_TESTS = ("tests/security/test_hostile_programs.py", "tests/security/test_canary.py")

TEST_USER = "tracer-test"
SYSTEM_PYTHON = "/usr/bin/python3"
RUNSC = shutil.which("runsc") or "/usr/bin/runsc"
_PACKAGES = ("functions-framework", "flask", "werkzeug", "gunicorn", "pytest", "jsonschema", "zstandard", "brotli")
_PROJECT_PARTS = ("main.py", "Makefile", "requirements.txt", "tracer", "res", "tests")


def run_security_suite(environment):
    """Run tests/security in `environment`; the finished process, its output in stdout."""
    command = ["-m", "pytest", "-q", "-p", "no:cacheprovider", *SECURITY_TESTS]
    if environment == "gvisor":
        return subprocess.run([RUNSC, "--network=none", "do", "--", sys.executable, *command],
                              cwd=ROOT, env=dict(os.environ, TRACER_TEST_ENVIRONMENT="gvisor"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    if environment in ("unprivileged", "no_namespaces"):
        user = _test_user()
        venv = _system_venv()
        # not under pytest's own temporary directory: only root may enter that one
        work_dir = tempfile.mkdtemp(prefix="tracer-unprivileged-")
        try:
            project = _readable_copy(work_dir, user)
            env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": str(project), "LANG": "C.UTF-8",
                   "TMPDIR": work_dir, "TRACER_TEST_ENVIRONMENT": environment}
            if environment == "no_namespaces":
                command = ["-c", _WITHOUT_NAMESPACES, f"{venv}/bin/python", *command]
            return subprocess.run([f"{venv}/bin/python", *command], cwd=project, env=env, user=user.pw_uid,
                                  group=user.pw_gid, extra_groups=[], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=1200)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
    raise ValueError(environment)


# Runs argv[1:] where no new namespace can be made: unshare and clone with a
# CLONE_NEW* flag get EPERM, clone3 (whose flags seccomp cannot see) ENOSYS, so
# that libc falls back to clone.
_WITHOUT_NAMESPACES = """
import ctypes, os, struct, sys
def op(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)
LD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
NAMESPACES = 0x7E020080  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
program = b"".join([
    op(LD, 0), op(JEQ, 272, 5, 0), op(JEQ, 435, 5, 0), op(JEQ, 56, 0, 2),
    op(LD, 16), op(JSET, NAMESPACES, 1, 0),
    op(RET, ALLOW), op(RET, EPERM), op(RET, ENOSYS)])
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(Fprog(len(program) // 8, program)), 0, 0) == 0
os.execv(sys.argv[1], sys.argv[1:])
"""


def _test_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True)
        return pwd.getpwnam(TEST_USER)


def _pins():
    """The pinned versions of what the security tests need, from the project's requirement files."""
    pins = []
    for name in ("requirements.txt", "tests/requirements.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line.split("==")[0].strip().lower() in _PACKAGES:
                pins.append(line.strip())
    return pins


def _system_venv():
    """A venv of Debian's python3 with the pins, readable by every user; made once per set of pins."""
    pins = _pins()
    key = hashlib.sha256("\n".join([SYSTEM_PYTHON, *pins]).encode()).hexdigest()[:12]
    venv = Path(f"/var/tmp/tracer-test-venv-{key}")
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True)
        subprocess.run([f"{venv}/bin/pip", "install", "--quiet", *pins], check=True)
        (venv / ".complete").touch()
    return venv


def _readable_copy(work_dir, user):
    """The project's sources copied where `user` can read them, its C loops built for SYSTEM_PYTHON."""
    project = Path(work_dir) / "project"
    project.mkdir(parents=True)
    for part in _PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, project / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so", ".pytest_cache"))
        else:
            shutil.copy2(source, project / part)
    suffix = subprocess.run([SYSTEM_PYTHON, "-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    subprocess.run(["make", "--no-print-directory", "-s", f"tracer/_speedups{suffix}", f"PYTHON={SYSTEM_PYTHON}"],
                   cwd=project, check=True)
    for path in [Path(work_dir), *Path(work_dir).rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    Path(work_dir).chmod(0o755)
    return project
