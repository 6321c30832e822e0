"""A sandbox per student kernel: bubblewrap around ipykernel, started by nbgrader's executor.

``SandboxedKernelManager`` is the kernel manager the grading executor uses
(grading/execute.py). It starts ``python -m ipykernel_launcher`` inside ``bwrap`` (Debian's
bubblewrap) with resource limits (``prlimit``; processes and threads in a ``pids`` cgroup of its
own when the grader may create one), so that the kernel sees:

- its own working copy (the folder nbgrader runs it in), read-write, with the notebooks in it
  masked (the scoring notebook there holds the hidden tests);
- the Python environment and the course data, read-only;
- a private ``/tmp`` (a size-capped tmpfs), no network, its own PID, IPC and UTS namespaces (every
  process it starts dies with it), user id 65534 and no capabilities;
- a cleared environment (only PATH, HOME, locale and the course's variables).

The grader talks to it over ZMQ ``ipc`` sockets in a private folder bound into the sandbox:
no network is needed. ``sandbox_problem()`` says why no sandbox can start, or returns None.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, Unicode, default

SANDBOX_UID = 65534  # "nobody" inside the sandbox's user namespace
GIB = 1024**3
CGROUP_REMOVAL_TRIES = 50  # x 0.1 s
PIDS_HIERARCHIES = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
BASE_DIRECTORIES = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64")


def environment_paths() -> list[str]:
    """The folders the Python environment needs: prefixes and editable installs' packages."""
    paths = {sys.prefix, sys.base_prefix}
    for dist in metadata.distributions():
        direct_url = dist.read_text("direct_url.json")
        if not direct_url or not json.loads(direct_url).get("dir_info", {}).get("editable"):
            continue
        names = (dist.read_text("top_level.txt") or dist.metadata["Name"]).split()
        for name in names:
            spec = find_spec(name.replace("-", "_"))
            if spec and spec.submodule_search_locations:
                paths.update(spec.submodule_search_locations)
    return sorted(paths)


def base_system_arguments() -> list[str]:
    """Read-only binds of the system folders (symlinks such as /bin -> usr/bin kept as such)."""
    arguments = []
    for folder in BASE_DIRECTORIES:
        path = Path(folder)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), folder]
        elif path.is_dir():
            arguments += ["--ro-bind", folder, folder]
    return arguments


def bwrap_command(
    command: list[str],
    *,
    workdir: str,
    private: str,
    read_only: list[str],
    environment: dict[str, str],
    tmp_bytes: int,
) -> list[str]:
    """``bwrap`` arguments that run ``command`` in ``workdir`` inside the sandbox."""
    arguments = ["bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL"]
    arguments += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    arguments += base_system_arguments()
    arguments += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    for path in read_only:  # after /tmp: the grading copies live in the grader's /tmp
        arguments += ["--ro-bind", path, path]
    arguments += ["--bind", workdir, workdir, "--bind", private, private]
    for notebook in sorted(Path(workdir).rglob("*.ipynb")):
        arguments += ["--ro-bind", "/dev/null", str(notebook)]
    arguments += ["--clearenv"]
    for name, value in sorted(environment.items()):
        arguments += ["--setenv", name, value]
    return [*arguments, "--chdir", workdir, "--", *command]


def limits_command(*, memory: int, processes: int, cpu_seconds: int, file_bytes: int) -> list[str]:
    """``prlimit`` in front of the sandbox: per process address space, CPU time, file size, and
    the number of processes of the user (enforced by Linux for any user but root)."""
    return [
        "prlimit",
        f"--as={memory}",
        f"--cpu={cpu_seconds}",
        f"--fsize={file_bytes}",
        f"--nproc={processes}",
        "--core=0",
        "--",
    ]


def pids_cgroup(name: str, processes: int) -> Path | None:
    """A new cgroup capping the number of processes at ``processes`` (cgroup v1 ``pids`` or v2),
    when this user may create one (root, usually); else None and RLIMIT_NPROC is the cap."""
    for hierarchy in PIDS_HIERARCHIES:
        controllers = hierarchy / "cgroup.subtree_control"
        if hierarchy.name != "pids" and not (controllers.is_file() and "pids" in controllers.read_text().split()):
            continue
        group = hierarchy / name
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(processes))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        return group
    return None


def sandbox_problem() -> str | None:
    """Why a sandboxed kernel cannot start here (None: it can). Runs one real, empty sandbox."""
    for tool, package in (("bwrap", "bubblewrap"), ("prlimit", "util-linux")):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install {package})"
    with tempfile.TemporaryDirectory(prefix="skewcheck-probe-") as folder:
        command = bwrap_command(
            [sys.executable, "-c", "import ipykernel"],
            workdir=folder,
            private=folder,
            read_only=environment_paths(),
            environment={"PATH": "/usr/bin:/bin"},
            tmp_bytes=16 * 1024**2,
        )
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap could not start: {error}"
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap could not start a sandbox ({last})"
    return None


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel started inside bubblewrap, with limits, over ipc sockets."""

    memory_bytes = Integer(4 * GIB, help="Address space per kernel process.").tag(config=True)
    processes = Integer(512, help="Processes and threads per kernel (a pids cgroup, else RLIMIT_NPROC).").tag(
        config=True
    )
    cpu_seconds = Integer(900, help="CPU time per kernel process.").tag(config=True)
    file_bytes = Integer(GIB, help="Largest file a kernel may write.").tag(config=True)
    tmp_bytes = Integer(GIB // 2, help="Size of the kernel's private /tmp.").tag(config=True)
    data_dir = Unicode("", help="The course data folder, bound read-only.").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.private = tempfile.mkdtemp(prefix="skewcheck-kernel-")
        self.connection_file = os.path.join(self.private, "kernel.json")
        self.cgroup: Path | None = None

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("COURSE_DATA_DIR", "")

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        return os.path.join(self.private, "kernel-ipc")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        workdir = os.path.realpath(self._launch_args.get("cwd") or os.getcwd())
        read_only = environment_paths() + ([self.data_dir] if self.data_dir else [])
        environment = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "IPYTHONDIR": "/tmp/.ipython",
            "MPLCONFIGDIR": "/tmp/.matplotlib",
            "NBGRADER_EXECUTION": "autograde",
        }
        if self.data_dir:
            environment["COURSE_DATA_DIR"] = self.data_dir
        limits = limits_command(
            memory=self.memory_bytes,
            processes=self.processes,
            cpu_seconds=self.cpu_seconds,
            file_bytes=self.file_bytes,
        )
        self.cgroup = self.cgroup or pids_cgroup(Path(self.private).name, self.processes)
        if self.cgroup:  # join the cgroup, then become the sandbox (exec keeps the process)
            join = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
            limits = ["sh", "-c", join, str(self.cgroup), *limits]
        return limits + bwrap_command(
            command,
            workdir=workdir,
            private=self.private,
            read_only=read_only,
            environment=environment,
            tmp_bytes=self.tmp_bytes,
        )

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        # The kernel's raw stdout/stderr (not its outputs, which travel over ZMQ) are dropped,
        # so that a kernel writing gigabytes to its file descriptors cannot fill the grader's.
        kw.update(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_interrupt_kernel(self) -> None:
        # SIGINT to the process group (Jupyter's "signal" mode) would also reach bubblewrap and
        # end the sandbox: ask the kernel to interrupt itself ("message" mode). A kernel that
        # ignores it runs into the time limit (grading/execute.py restarts it).
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    interrupt_kernel = _async_interrupt_kernel

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.private, ignore_errors=True)
            await self._remove_cgroup()

    async def _remove_cgroup(self) -> None:
        """Remove the kernel's cgroup once the sandbox's last processes have exited."""
        for _ in range(CGROUP_REMOVAL_TRIES):
            if not self.cgroup or not self.cgroup.exists():
                return
            with contextlib.suppress(OSError):  # busy while the sandbox's processes exit
                self.cgroup.rmdir()
                return
            await asyncio.sleep(0.1)

    cleanup_resources = _async_cleanup_resources
