"""Runs documentation blocks (tests/doc_blocks.py) for tests/test_docs.py: each document in a working folder of its
own, its blocks in order (Python blocks in one interpreter, tests/doc_python.py; shell blocks in ``bash``), and
several documents at once, one per core (``Lanes``), each test waiting for its own block's outcome."""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from doc_blocks import ROOT, Block, console_commands


@dataclass(frozen=True)
class Outcome:
    """A block's result: its output, wall-clock seconds and CPU seconds (its processes, all threads)."""

    ok: bool
    output: str
    seconds: float
    cpu: float = 0.0


class PythonSession:
    """One document's interpreter: a block in, its output and a status line out."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path, timeout: float | None) -> None:
        read, write = os.pipe()
        self.log, self.timeout = log, timeout
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "doc_python.py"), str(write), str(ROOT)], cwd=cwd, env=env,
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, pass_fds=(write,), text=True)
        os.close(write)
        self.status: IO[str] = os.fdopen(read)

    def run(self, code: str, doc: str, line: int) -> tuple[bool, str, float]:
        start = self.log.stat().st_size
        if self.process.poll() is not None:
            return False, "[the document's interpreter has exited]", 0.0
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"doc": doc, "line": line, "code": code}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.status], [], [], self.timeout)
        reply = self.status.readline() if ready else ""
        with self.log.open() as out:
            out.seek(start)
            output = out.read()
        if not reply:
            self.close()
            return False, output + (f"\n[timed out after {self.timeout} s]" if not ready else "\n[it exited]"), 0.0
        status = json.loads(reply)
        return status["ok"], output, status["cpu"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.status.close()


@dataclass
class Document:
    """One document's working folder and interpreter. ``prelude``: shell lines before every shell block;
    ``checks``: Python run after a block (by id), in its namespace."""

    folder: Path
    env: dict[str, str]
    prelude: str
    checks: dict[str, str]
    timeout: float | None
    python: PythonSession | None = None

    def run(self, block: Block) -> Outcome:
        start = time.perf_counter()
        if block.kind == "python":
            if self.python is None:
                log = self.folder.parent / f"{self.folder.name}.log"
                self.python = PythonSession(self.folder, self.env, log, self.timeout)
            ok, output, cpu = self.python.run(block.code, block.doc, block.line)
            if ok and block.id in self.checks:
                ok, more, _ = self.python.run(self.checks[block.id], block.doc, block.line)
                output += more
        else:
            ok, output, cpu = self._shell(console_commands(block.code) if block.kind == "console" else block.code)
        return Outcome(ok, output, time.perf_counter() - start, cpu)

    def _shell(self, code: str) -> tuple[bool, str, float]:
        """``bash -c`` in the working folder; its whole process group is killed at the timeout."""
        log = self.folder.parent / f"{self.folder.name}-shell.log"
        with log.open("w+") as out:
            process = subprocess.Popen(["bash", "-c", self.prelude + code], cwd=self.folder, env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            killed: list[bool] = []

            def kill() -> None:
                killed.append(True)
                os.killpg(process.pid, signal.SIGKILL)

            timer = threading.Timer(self.timeout or 1e9, kill)
            timer.start()
            _, status, usage = os.wait4(process.pid, 0)  # usage: bash and every process it waited for
            timer.cancel()
            process.returncode = code = os.waitstatus_to_exitcode(status)
            out.seek(0)
            output = out.read()
        ended = f"[timed out after {self.timeout} s]" if killed else f"[exit status {code}]"
        return code == 0, f"{output}\n{ended}", usage.ru_utime + usage.ru_stime

    def close(self) -> None:
        if self.python is not None:
            self.python.close()


@dataclass
class Lanes:
    """Runs ``plan`` (document -> its blocks to run, in order) in ``lanes`` threads, one document at a time each."""

    plan: dict[str, list[Block]]
    make: Callable[[str], Document]
    lanes: int
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.done = {b.id: threading.Event() for blocks in self.plan.values() for b in blocks}
        self.documents = {doc: self.make(doc) for doc in self.plan}  # folders made here, not in the threads
        self.todo: queue.Queue[str] = queue.Queue()
        for doc in self.plan:
            self.todo.put(doc)
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(min(self.lanes, len(self.plan)))]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while True:
            try:
                doc = self.todo.get_nowait()
            except queue.Empty:
                return
            for block in self.plan[doc]:
                if self.stopping:
                    self.outcomes[block.id] = Outcome(False, "[not run: the session is stopping]", 0.0)
                    self.done[block.id].set()
                    continue
                try:
                    self.outcomes[block.id] = self.documents[doc].run(block)
                except Exception as exc:  # noqa: BLE001 - the block's test reports it
                    self.outcomes[block.id] = Outcome(False, f"[the runner failed: {exc!r}]", 0.0)
                self.done[block.id].set()
            self.documents[doc].close()

    def outcome(self, block: Block) -> Outcome:
        self.done[block.id].wait()
        return self.outcomes[block.id]

    def close(self) -> None:
        self.stopping = True
        for thread in self.threads:
            thread.join()
        for document in self.documents.values():
            document.close()

    def summary(self, wall: float) -> list[str]:
        """What the blocks cost, per document and in all: CPU seconds (its processes, every thread) and wall time."""
        rows = []
        for doc, blocks in self.plan.items():
            ran = [b for b in blocks if b.id in self.outcomes]
            cpu, seconds = (sum(getattr(self.outcomes[b.id], k) for b in ran) for k in ("cpu", "seconds"))
            most = max(ran, key=lambda b: self.outcomes[b.id].cpu).id if ran else "-"
            rows.append((cpu, f"  {cpu:6.1f} s CPU {seconds:6.1f} s wall  {doc} ({len(ran)} blocks; most CPU: {most})"))
        total = sum(o.cpu for o in self.outcomes.values())
        head = f"documentation blocks: {len(self.outcomes)} run in {wall:.0f} s wall clock on {len(self.threads)} lanes"
        return [f"{head}, {total:.0f} s CPU:", *(line for _, line in sorted(rows, reverse=True))]
