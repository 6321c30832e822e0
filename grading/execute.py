"""nbgrader's ``Execute`` step, hardened for untrusted notebooks (registered in nbgrader_config.py).

``GuardedExecute`` runs each notebook in a sandboxed kernel (grading/sandbox.py) and:

- caps each cell's output (``max_output_bytes``, then "... output truncated"); error outputs are
  always kept (a test cell's error is its grade), their text capped too;
- lets a cell that kills its kernel, exits, or ignores the interrupt sent at its time limit fail
  alone: the cell gets a ``KernelDied`` or ``KernelUnresponsive`` error saying so, a new kernel is
  started, the cells before it are run again (their outputs kept from the first run), and the
  notebook goes on;
- turns stderr into stdout, so that a warning printed by a correct answer does not cost points
  (nbgrader scores a test cell with any stderr output 0).
"""

from __future__ import annotations

from copy import deepcopy

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from grading.sandbox import SandboxedKernelManager

TRUNCATED = "\n... output truncated: this cell printed more than {limit:,} bytes\n"
KERNEL_DIED = (
    "the kernel stopped during this cell (it exited, crashed or was killed); a new kernel was "
    "started, the cells before this one were run again, and the cells after it were still graded"
)
KERNEL_UNRESPONSIVE = (
    "this cell ran past the time limit and ignored the interrupt; its kernel was stopped, a new "
    "one was started, the cells before this one were run again, and the cells after it were "
    "still graded"
)


def output_size(output: NotebookNode) -> int:
    """Characters an output holds (stream text, error text, rich data)."""
    if output.output_type == "stream":
        return len(output.get("text", ""))
    if output.output_type == "error":
        return len(output.get("evalue", "")) + sum(map(len, output.get("traceback", [])))
    return sum(len(str(value)) for value in output.get("data", {}).values())


class GuardedExecute(Execute):
    """Execute in a sandbox, with capped outputs and recovery from a dead or deaf kernel."""

    sandbox = Bool(True, help="Run kernels in bubblewrap (False: as the grader's user).").tag(config=True)
    max_output_bytes = Integer(1024**2, help="Output kept per cell.").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        if not self.sandbox:
            self.kernel_manager_class = AsyncKernelManager

    def preprocess(self, nb, resources=None, km=None):
        self._output_size = {}
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except (DeadKernelError, CellTimeoutError) as error:
            unresponsive = isinstance(error, CellTimeoutError)
            cell.outputs.append(
                NotebookNode(
                    output_type="error",
                    ename="KernelUnresponsive" if unresponsive else "KernelDied",
                    evalue=KERNEL_UNRESPONSIVE if unresponsive else KERNEL_DIED,
                    traceback=[KERNEL_UNRESPONSIVE if unresponsive else KERNEL_DIED],
                )
            )
            self._restart_and_replay(index)
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stderr":
                output.name = "stdout"
        return cell, self.resources

    def _restart_and_replay(self, index: int) -> None:
        """A new kernel, with the code cells before ``index`` run again (outputs discarded)."""
        self._cleanup_kernel()
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()
        for number, earlier in enumerate(self.nb.cells[:index]):
            if earlier.cell_type != "code" or _killed_its_kernel(earlier):
                continue
            try:
                self.execute_cell(deepcopy(earlier), number, store_history=True)
            except (DeadKernelError, CellTimeoutError):
                earlier.outputs.append(
                    NotebookNode(
                        output_type="error",
                        ename="KernelDied",
                        evalue=KERNEL_DIED,
                        traceback=[KERNEL_DIED],
                    )
                )
                self._restart_and_replay(index)
                return

    def output(self, outs, msg, display_id, cell_index):
        used = self._output_size.get(cell_index, 0)
        if used >= self.max_output_bytes and msg["msg_type"] != "error":
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return None
        size = output_size(out)
        if used + size > self.max_output_bytes:
            notice = TRUNCATED.format(limit=self.max_output_bytes)
            keep = max(0, self.max_output_bytes - used)
            if out.output_type == "error":
                out.evalue = out.get("evalue", "")[:keep]
                out.traceback = [line[:keep] for line in out.get("traceback", [])[:100]]
            elif out.output_type == "stream":
                out.text = out.text[:keep] + notice
            else:
                outs[outs.index(out)] = NotebookNode(output_type="stream", name="stdout", text=notice)
            size = self.max_output_bytes - used
        self._output_size[cell_index] = used + size
        return out


def _killed_its_kernel(cell: NotebookNode) -> bool:
    return any(
        output.output_type == "error" and output.ename in ("KernelDied", "KernelUnresponsive")
        for output in cell.get("outputs", [])
    )
