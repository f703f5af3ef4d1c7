"""The few supervisor methods a live change calls (``live.py``), kept apart from its loop.

``Supervisor`` inherits them; they run on its loop thread only, like everything that
touches its processes: start a candidate outside the deployment, install it as one of the
deployment's processes, retire a process (SIGTERM, out of the deployment), start a process
in place of a retired one, and keep the prober and ``self.plan`` in step with what runs.

Every process is made by the supervisor's spawner (``seams.Spawner``) and writes its own
log file, like the processes ``trtl up`` started. A process's log file goes with its name:
a candidate writes ``NAME~newN.log`` and, once installed, that file becomes ``NAME.log``;
a retired process's file becomes ``NAME~oldN.log`` first, so the process that takes its
name starts a file of its own and no two processes ever write (or follow) the same file.
A state entry is never moved backwards: a process that takes a name gets a fresh entry
(its restart count carried over).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from trtl.launcher.deployments.lifecycle import ProcessStatus
from trtl.launcher.deployments.run_setup import child_env, restart_policy
from trtl.launcher.deployments.state import ProcessState
from trtl.launcher.planning.plan_types import ProcessPlan
from trtl.launcher.supervision.restart import RestartTracker
from trtl.launcher.supervision.seams import ProcessHandle

if TYPE_CHECKING:
    from trtl.launcher.supervision.supervisor import Supervisor

    _Base = Supervisor
else:
    _Base = object

P = ProcessStatus


class LiveSurface(_Base):
    """Mixed into ``Supervisor``."""

    def spawn(self, process: ProcessPlan, name: str) -> ProcessHandle:
        """Start ``process`` under the temporary ``name``, outside the deployment (a
        candidate): its readiness and exit go to LiveChanges, its output to ``name``'s log."""
        component = self._make(process, name)
        component.start()
        self._probe(name, process)
        return component

    def install(self, component: ProcessHandle, process: ProcessPlan) -> None:
        """Make a candidate that came up the deployment's ``process.name``."""
        name = process.name
        self.unprobe(component.name)
        self._rename(component, name)
        self.components[name] = component
        self.trackers[name] = RestartTracker(restart_policy(self.plan.profile, process))
        proc = self._fresh_entry(process)
        proc.pid, proc.create_time = component.pid, component.create_time
        proc.move(P.STARTING)
        proc.move(P.RUNNING)  # its status server said so: that is why it is installed
        proc.started_at = time.time()
        self.ever_up.add(name)
        self._set_planned(name, process)
        self._probe(name, process)
        self._maybe_ready()

    def retire(self, name: str, keep_entry: bool, new_name: str) -> ProcessHandle:
        """Take process ``name`` out of the deployment and SIGTERM it (it drains, then
        exits); renamed ``new_name``. Its state entry stays (stopping) if ``keep_entry``."""
        component = self.components.pop(name)
        self.restarts_due.pop(name, None)
        self.silent_since.pop(name, None)
        self.hung.discard(name)
        self.unprobe(name)
        proc = self.procs[name]
        if keep_entry:
            # Its successor takes a fresh entry; until then this one says what happens.
            if proc.state in (P.STARTING, P.RUNNING):
                proc.move(P.STOPPING)
            else:
                proc.end()
        else:
            proc.end()
            self.state.processes.remove(self.procs.pop(name))
            self.trackers.pop(name, None)
            self._set_planned(name, None)
        self._rename(component, new_name)
        component.signal_group(signal.SIGTERM)
        self._changed()
        return component

    def restart_as(self, process: ProcessPlan) -> None:
        """Start ``process`` in place of a retired one of its name (stop first, then start)."""
        name = process.name
        self.components[name] = self._make(process, name)
        self.trackers[name] = RestartTracker(restart_policy(self.plan.profile, process))
        self._fresh_entry(process)
        self._set_planned(name, process)
        self._start(name)
        self._probe(name, process)
        self._changed()

    def find(self, name: str) -> ProcessHandle | None:
        """The process running as ``name``: the deployment's, or a live change's."""
        return self.components.get(name) or self.live.find(name)

    def unprobe(self, name: str) -> None:
        if self.prober and name in self.prober.status_ports:
            ports = dict(self.prober.status_ports)
            del ports[name]
            self.prober.status_ports = ports  # replaced whole: the prober thread reads it

    def _probe(self, name: str, process: ProcessPlan) -> None:
        if self.prober and "system" in process.ports:
            self.prober.status_ports = {**self.prober.status_ports, name: process.ports["system"]}
        if self.prober:
            self.prober.forget(name)

    def _make(self, process: ProcessPlan, name: str) -> ProcessHandle:
        """A handle for ``process`` from the supervisor's spawner, writing ``name``'s log."""
        env = child_env(dataclasses.replace(self.plan, processes=[process]))[process.name]
        component = self.make_process(
            process,
            self._log_of(name),
            self.events.put,
            env,
            forward_lines=not self.mux.quiet or process.role == "frontend",
        )
        component.name = name
        if self.on_spawn:
            self.on_spawn(component)  # the terminal follows it, with the run's log limits
        return component

    def _rename(self, component: ProcessHandle, name: str) -> None:
        """``component`` runs as ``name`` from now on, its log file renamed with it (the
        process keeps writing to the same file: it holds it open)."""
        old, log = component.name, self._log_of(name)
        with contextlib.suppress(FileNotFoundError):
            os.replace(component.log_path, log)
        component.log_path = log
        component.name = name
        self.mux.renamed(old, name)

    def _log_of(self, name: str) -> Path:
        return self.plan.run_dir.logs / f"{name}.log"

    def _fresh_entry(self, process: ProcessPlan) -> ProcessState:
        """A new state entry for ``process`` in place of its namesake's (or added)."""
        name = process.name
        proc = ProcessState(
            name=name,
            role=process.role,
            mode=process.mode,
            gpus=process.gpus,
            ports=process.ports,
            log=str(self._log_of(name)),
        )
        old = self.procs.get(name)
        if old is None:
            self.state.processes.append(proc)
        else:
            proc.restarts = old.restarts
            at = self.state.processes.index(old)
            self.state.processes[at] = proc
        self.procs[name] = proc
        return proc

    def _set_planned(self, name: str, process: ProcessPlan | None) -> None:
        """Keep ``self.plan`` what runs: the next apply diffs against it."""
        processes = [p for p in self.plan.processes if p.name != name or process is not None]
        if process is not None:
            at = [p.name for p in processes]
            processes = (
                [process if p.name == name else p for p in processes]
                if name in at
                else [*processes, process]
            )
        self.plan = dataclasses.replace(self.plan, processes=processes)
