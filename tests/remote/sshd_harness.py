"""A real OpenSSH sshd on a loopback port, for the SSH tests and `bench/ssh_checks.py`.

It runs as the current user (`sshd -D -e -f <config>`), with its own host keys, an
authorized_keys file holding freshly generated client keys, its log on stderr captured to a
file, and nothing from the system's /etc/ssh or anyone's ~/.ssh.

Needs the OpenSSH server and client tools (sshd, ssh-keygen). On Debian/Ubuntu CI:

    apt-get install -y --no-install-recommends openssh-server openssh-client

As root, sshd also needs its privilege-separation directory /run/sshd, which the Debian
package's service normally creates at boot; `start_sshd` creates it when missing.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
INSTALL_HINT = "apt-get install -y --no-install-recommends openssh-server openssh-client"

# name -> (ssh-keygen type, bits or None, passphrase or None, audited)
DEFAULT_CLIENT_KEYS: dict[str, tuple[str, int | None, str | None, bool]] = {
    "ed25519": ("ed25519", None, None, False),
    "ecdsa": ("ecdsa", 256, None, False),
    "rsa": ("rsa", 2048, None, False),
    "encrypted": ("ed25519", None, "correct horse battery", False),
    # Every command run with this key is first appended to exec.log: the tests' proof that a
    # refused host key ran nothing.
    "audited": ("ed25519", None, None, True),
}


def sshd_available() -> bool:
    return os.path.exists(SSHD) and os.path.exists(SSH_KEYGEN)


@dataclass(frozen=True)
class ClientKey:
    name: str
    private_key: str
    public_line: str
    passphrase: str | None = None


@dataclass
class SshdServer:
    host: str
    port: int
    username: str
    workdir: Path
    client_keys: dict[str, ClientKey]
    host_keys: dict[str, str]
    """key type -> ``"type base64"`` line of each host key the server has."""
    host_fingerprints: dict[str, str]
    """key type -> fingerprint as ``ssh-keygen -l -E sha256`` prints it."""
    log_path: Path
    exec_log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def client_key(self) -> str:
        """The main (Ed25519, unencrypted) client private key, as OpenSSH text."""
        return self.client_keys["ed25519"].private_key

    @property
    def host_key_type(self) -> str:
        return "ssh-ed25519"

    @property
    def host_key_base64(self) -> str:
        return self.host_keys["ssh-ed25519"].split()[1]

    @property
    def host_key_line(self) -> str:
        return self.host_keys["ssh-ed25519"]

    @property
    def host_key_fingerprint(self) -> str:
        return self.host_fingerprints["ssh-ed25519"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exec_log_text(self) -> str:
        if not self.exec_log_path.exists():
            return ""
        return self.exec_log_path.read_text(errors="replace")

    def children_cpu_seconds(self) -> float:
        """CPU of the per-connection sshd processes (and the commands they ran) reaped so
        far by the listener: what the server side costs, for benchmarks."""
        with open(f"/proc/{self.process.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        own = int(fields[11]) + int(fields[12])
        children = int(fields[13]) + int(fields[14])
        return (own + children) / ticks

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _keygen(
    path: Path, key_type: str, bits: int | None, passphrase: str | None, comment: str
) -> None:
    args = [
        SSH_KEYGEN,
        "-q",
        "-t",
        key_type,
        "-N",
        passphrase or "",
        "-C",
        comment,
        "-f",
        str(path),
    ]
    if bits:
        args[4:4] = ["-b", str(bits)]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, capture_output=True)


def _fingerprint(pub_path: Path) -> str:
    out = subprocess.run(
        [SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(pub_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _wait_for_banner(
    host: str, port: int, process: subprocess.Popen[bytes], deadline: float
) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5) as sock:
                sock.settimeout(1.0)
                if sock.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False


def start_sshd(
    workdir: Path,
    *,
    host: str = "127.0.0.1",
    max_startups: str = "200:30:400",
    log_level: str = "VERBOSE",
    client_keys: dict[str, tuple[str, int | None, str | None, bool]] | None = None,
    extra_config: str = "",
) -> SshdServer:
    """Generate keys and a config under `workdir`, start sshd, wait for its banner.

    `extra_config` lines go first in sshd_config, so they override the defaults below.
    """
    if not sshd_available():
        raise RuntimeError(f"OpenSSH sshd/ssh-keygen not found; install with: {INSTALL_HINT}")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    username = getpass.getuser()

    host_keys: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    host_key_paths = []
    for key_type, ssh_name, bits in (
        ("ed25519", "ssh-ed25519", None),
        ("ecdsa", "ecdsa-sha2-nistp256", 256),
    ):
        path = workdir / f"ssh_host_{key_type}_key"
        _keygen(path, key_type, bits, None, f"test-host-{key_type}")
        host_key_paths.append(path)
        public = path.with_suffix(".pub").read_text().split()
        host_keys[ssh_name] = f"{public[0]} {public[1]}"
        fingerprints[ssh_name] = _fingerprint(path.with_suffix(".pub"))

    exec_log = workdir / "exec.log"
    keys: dict[str, ClientKey] = {}
    authorized: list[str] = []
    for name, (key_type, bits, passphrase, audited) in (client_keys or DEFAULT_CLIENT_KEYS).items():
        path = workdir / f"client_{name}"
        _keygen(path, key_type, bits, passphrase, f"test-client-{name}")
        public = path.with_suffix(".pub").read_text().strip()
        keys[name] = ClientKey(name, path.read_text(), public, passphrase)
        if audited:
            # authorized_keys forced command: log the requested command, then run it.
            forced = (
                f'command="printf \'%s\\n\' \\"$SSH_ORIGINAL_COMMAND\\" >> {exec_log}; '
                f'exec /bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" '
            )
            authorized.append(forced + public)
        else:
            authorized.append(public)
    (workdir / "authorized_keys").write_text("\n".join(authorized) + "\n")

    log_path = workdir / "sshd.log"
    for _attempt in range(3):
        port = free_port(host)
        config = workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    # sshd keeps the first value it reads: extra lines override the rest.
                    extra_config,
                    f"Port {port}",
                    f"ListenAddress {host}",
                    *(f"HostKey {p}" for p in host_key_paths),
                    f"PidFile {workdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    f"MaxStartups {max_startups}",
                    "MaxSessions 64",
                    "UseDNS no",
                    "PermitTTY no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "PrintMotd no",
                    f"LogLevel {log_level}",
                    # Debian's bash sources ~/.bashrc for commands run over ssh when
                    # SHLVL < 2; as root that .bashrc may run pyenv init (~0.4 s per
                    # command). A monitoring account should use /bin/sh (lessons.md);
                    # SHLVL=1 makes a bash login behave alike.
                    "SetEnv SHLVL=1",
                    "",
                ]
            )
        )
        log_handle = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=log_handle,
        )
        log_handle.close()
        if _wait_for_banner(host, port, process, time.monotonic() + 10):
            return SshdServer(
                host=host,
                port=port,
                username=username,
                workdir=workdir,
                client_keys=keys,
                host_keys=host_keys,
                host_fingerprints=fingerprints,
                log_path=log_path,
                exec_log_path=exec_log,
                process=process,
            )
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    raise RuntimeError(f"sshd did not start; its log:\n{log_path.read_text(errors='replace')}")
