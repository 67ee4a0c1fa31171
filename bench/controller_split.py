#!/usr/bin/env python3
"""ansible-playbook, run in this process, writing where its CPU went (bench.py's controller figure).

    controller_split.py REPORT ansible-playbook-arguments...

Appends to REPORT one JSON line per forked worker (one per task and host: its name, its action, the CPU seconds the
worker spent and those of the ssh clients it waited for), then one line for ansible-playbook's own process (start-up,
loading the play, scheduling and the results). It wraps two internals of ansible-core (WorkerProcess._run and
TaskExecutor.run), which a newer ansible-core may change: the figure then says so instead of guessing.
"""
from __future__ import annotations

import atexit
import json
import os
import resource
import runpy
import shutil
import sys


def cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def append(report: str, row: dict) -> None:
    # One short line per write, O_APPEND: workers on both cores may finish at once.
    with open(report, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def main() -> None:
    report, arguments = sys.argv[1], sys.argv[2:]
    from ansible.executor import task_executor  # pylint: disable=import-outside-toplevel
    from ansible.executor.process import worker  # pylint: disable=import-outside-toplevel

    run_task, execute = worker.WorkerProcess._run, task_executor.TaskExecutor.run  # pylint: disable=protected-access
    outcome = {}

    def executed(self):
        result = execute(self)
        outcome["skipped"] = bool(isinstance(result, dict) and result.get("skipped"))
        return result

    def measured(self):
        try:
            return run_task(self)
        finally:
            # A worker is a fresh fork: its own usage starts at zero.
            append(report, {"task": self._task.get_name(), "action": self._task.action,
                            "skipped": outcome.get("skipped", False),
                            "cpu": cpu(resource.getrusage(resource.RUSAGE_SELF)),
                            "ssh": cpu(resource.getrusage(resource.RUSAGE_CHILDREN))})

    task_executor.TaskExecutor.run = executed

    worker.WorkerProcess._run = measured  # pylint: disable=protected-access
    # Workers leave with os._exit, so only ansible-playbook's own process runs this.
    atexit.register(lambda: append(report, {"task": None, "cpu": cpu(resource.getrusage(resource.RUSAGE_SELF))}))
    sys.argv = ["ansible-playbook", *arguments]
    runpy.run_path(shutil.which("ansible-playbook"), run_name="__main__")


if __name__ == "__main__":
    main()
