"""`tdw dev` as a real process on free ports, started, stopped with Ctrl-C, or killed whole, for the
end-to-end and crash tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wallet.chain.node import free_port


@dataclass
class DevServer:
    folder: Path
    port: int
    anvil_port: int
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    # The partner bank's API port (a free one: the default, port + 1, may be taken by another test).
    partner_port: int = field(default_factory=lambda: free_port())
    # The second chain's anvil (the default, the anvil port + 1, may be taken too).
    second_anvil_port: int = field(default_factory=lambda: free_port())
    # In a process group of its own (anvil inherits it), as a service manager runs it: `power_cut`
    # then kills the whole stack at once.
    own_process_group: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        args = [
            sys.executable,
            "-m",
            "api.cli",
            "dev",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.folder),
            "--anvil-port",
            str(self.anvil_port),
            "--partner-port",
            str(self.partner_port),
            "--second-anvil-port",
            str(self.second_anvil_port),
        ]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=None if self.env is None else {**os.environ, **self.env},
            start_new_session=self.own_process_group,
        )
        assert self.process.stdout is not None
        self.output = []
        for line in self.process.stdout:
            self.output.append(line)
            if "Ctrl-C stops" in line:
                break
        assert self.process.poll() is None, "".join(self.output)
        # Keep draining the output so the process never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return "".join(self.output)

    def _drain(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        assert self.process.returncode == 0, "".join(self.output[-40:])
        time.sleep(0.2)
        assert "stopped" in "".join(self.output[-5:])
        self.process = None

    def power_cut(self) -> None:
        """SIGKILL of the whole process group: `tdw dev` and its anvil die together, saving nothing."""
        assert self.process is not None
        assert self.own_process_group, "a power cut needs the stack in its own process group"
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def logins(self) -> dict[str, dict[str, str]]:
        folder = self.folder / "eth-tester" if "eth-tester chain" in "".join(self.output) else self.folder
        return {x["username"]: x for x in json.loads((folder / "demo-logins.json").read_text())}

    def partner_logins(self) -> dict[str, dict[str, str]]:
        """The partner bank's demo logins (Carol's among them)."""
        return {
            x["username"]: x for x in json.loads((self.folder / "partner" / "demo-logins.json").read_text())
        }

    @property
    def partner_url(self) -> str:
        return f"http://127.0.0.1:{self.partner_port}"
