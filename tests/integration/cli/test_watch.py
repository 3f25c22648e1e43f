"""portctl watch after the daemon drops it for falling behind (portd-protocol(7),
WATCH, event overflow): portctl says so on stderr, watches again and goes on."""

import json
import os
import queue
import subprocess
import threading
import time

import harness
from harness import PORTCTL


class WatchOverflow(harness.PortctlTestCase):
    def setUp(self):
        super().setUp()
        # The smallest bound: one import of a few allocations passes it at once.
        os.makedirs(os.path.join(self.tmp, "config", "portd"))
        with open(os.path.join(self.tmp, "config", "portd", "portd.toml"), "w") as f:
            f.write("[limits]\nmax_pending_output_bytes = 4096\n")

    def wait_for_connections(self, n):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if json.loads(self.ok("health", "--json"))["connections"] >= n:
                return
            time.sleep(0.02)
        self.fail(f"portd never had {n} connections{self.log_tail()}")

    def test_overflow_is_reported_and_watching_goes_on(self):
        description = "d" * 400
        for i in range(20):
            self.ok("allocate", "--app", "big", "--instance", "main", "--service", f"s{i}",
                    "--description", description, "-q")
        dump = os.path.join(self.tmp, "big.json")
        self.ok("export", "--output", dump)
        self.ok("release", "--app", "big")

        watcher = subprocess.Popen([PORTCTL, "watch", "--json"], env=self.env, cwd=self.tmp,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(l) for l in watcher.stdout],
                                  daemon=True)
        reader.start()
        try:
            # Events before the watcher subscribed are not replayed.
            self.wait_for_connections(2)
            # 20 events of about 0.5 KiB in one batch: over the 4 KiB bound.
            self.ok("import", dump)
            overflow = json.loads(lines.get(timeout=10))
            self.assertEqual(overflow, {"event": "overflow"})
            # portctl watches again on a new connection; until it has, events
            # are missed, so allocate until one is seen.
            ports = []
            after = None
            for i in range(100):
                ports.append(int(self.ok("allocate", "--app", "a", "--instance", "b",
                                         "--service", f"c{i}", "-q")))
                try:
                    after = json.loads(lines.get(timeout=0.2))
                    break
                except queue.Empty:
                    self.assertIsNone(watcher.poll(), "portctl watch exited after the overflow")
        finally:
            watcher.terminate()
            watcher.wait(timeout=10)
            err = watcher.stderr.read()
        self.assertIsNotNone(after, "no event after the overflow")
        self.assertEqual(after["event"], "allocated")
        self.assertIn(after["allocation"]["port"], ports)
        self.assertIn("portd dropped this watch", err)
        self.assertIn("watching again", err)


if __name__ == "__main__":
    harness.main()
