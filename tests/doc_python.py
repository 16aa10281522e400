"""Runs one documentation file's Python blocks in one fresh interpreter and one namespace, in order, as a reader
would paste them: tests/doc_runner.py starts it per file and sends each block as one JSON line on stdin
(``{"doc": ..., "line": ..., "code": ...}``); the block's output goes to this process's stdout and stderr, and a JSON
status line (``{"ok": bool, "cpu": seconds}``) to the file descriptor given as the first argument. Tracebacks name
the document and its line numbers."""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children so far."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def serve(status_fd: int, root: str) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    with os.fdopen(status_fd, "w") as status:
        for request in sys.stdin:
            block = json.loads(request)
            source = "\n" * (block["line"] - 1) + block["code"]  # tracebacks give the document's own line numbers
            start = cpu_seconds()
            try:
                exec(compile(source, os.path.join(root, block["doc"]), "exec"), namespace)  # noqa: S102 - the docs
                ok = True
            except BaseException:  # noqa: BLE001 - a doc block's failure, whatever it is, is reported, not raised
                traceback.print_exc()
                ok = False
            sys.stdout.flush()
            sys.stderr.flush()
            status.write(json.dumps({"ok": ok, "cpu": cpu_seconds() - start}) + "\n")
            status.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
