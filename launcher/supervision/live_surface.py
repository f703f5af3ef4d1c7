"""The few supervisor methods a live change calls (``live.py``), kept apart from its loop.

``Supervisor`` inherits them; they run on its loop thread only, like everything that
touches its processes: start a candidate outside the deployment, install it as one of the
deployment's processes, retire a process (SIGTERM, out of the deployment), start a process
in place of a retired one, and keep the prober and ``self.plan`` in step with what runs.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from typing import TYPE_CHECKING

from launcher.deployments.run_setup import child_env, restart_policy
from launcher.deployments.state import ProcessState
from launcher.planning.plan import ProcessPlan
from launcher.supervision.component import Component
from launcher.supervision.restart import RestartTracker

if TYPE_CHECKING:
    from launcher.supervision.supervisor import Supervisor

    _Base = Supervisor
else:
    _Base = object


class LiveSurface(_Base):
    """Mixed into ``Supervisor``."""

    def spawn(self, process: ProcessPlan, name: str) -> Component:
        """Start ``process`` under the temporary ``name``, outside the deployment (a
        candidate): its readiness and exit go to LiveChanges, its output to its log only."""
        component = self._component(process)
        component.name = name
        component.start()
        self._probe(name, process)
        return component

    def install(self, component: Component, process: ProcessPlan) -> None:
        """Make a candidate that came up the deployment's ``process.name``."""
        name = process.name
        self.unprobe(component.name)
        component.name = name
        self.components[name] = component
        self.trackers[name] = RestartTracker(restart_policy(self.plan.profile, process))
        proc = self.procs.get(name)
        if proc is None:
            proc = self.procs[name] = ProcessState(name=name, role=process.role, mode=process.mode)
            self.state.processes.append(proc)
        proc.pid, proc.create_time = component.pid, component.create_time
        proc.state, proc.exit_code, proc.started_at = "running", None, time.time()
        proc.gpus, proc.ports = process.gpus, process.ports
        proc.log = str(component.log_path)
        self.ever_up.add(name)
        self._set_planned(name, process)
        self._probe(name, process)
        self._maybe_ready()

    def retire(self, name: str, keep_entry: bool, new_name: str) -> Component:
        """Take process ``name`` out of the deployment and SIGTERM it (it drains, then
        exits); renamed ``new_name``. Its state entry stays (as stopping) if ``keep_entry``."""
        component = self.components.pop(name)
        self.restarts_due.pop(name, None)
        self.silent_since.pop(name, None)
        self.hung.discard(name)
        self.unprobe(name)
        if keep_entry:
            self.procs[name].state = "stopping"
        else:
            self.state.processes.remove(self.procs.pop(name))
            self.trackers.pop(name, None)
            self._set_planned(name, None)
        # Its last lines go to its log only: the terminal knows it by its old name.
        component._forward = False
        component.name = new_name
        component.signal_group(signal.SIGTERM)
        self._changed()
        return component

    def restart_as(self, process: ProcessPlan) -> None:
        """Start ``process`` in place of a retired one of its name (stop first, then start)."""
        name = process.name
        self.components[name] = self._component(process)
        self.trackers[name] = RestartTracker(restart_policy(self.plan.profile, process))
        self.procs[name].gpus, self.procs[name].ports = process.gpus, process.ports
        self._set_planned(name, process)
        self._start(name)
        self._probe(name, process)
        self._changed()

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

    def _component(self, process: ProcessPlan) -> Component:
        env = child_env(dataclasses.replace(self.plan, processes=[process]))[process.name]
        log = self.plan.run_dir.logs / f"{process.name}.log"
        return Component(process, log, self.events.put, env, forward_lines=False)

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
