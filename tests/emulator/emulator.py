"""Emulated gittensor validators on real bittensor 10.3.1 axons, plus a fake GitHub API.

Everything listens on 127.0.0.1. The Rust tests start this script, read one JSON line
from stdout that describes the network (ports, hotkeys, wallet paths), then steer it
through a small JSON control API and read request counters back from it.

The PAT handlers follow gittensor's validator semantics (gittensor/validator/pat_handler.py):
a PAT store per validator, the metagraph hotkey allow-list (blacklist -> 403), GitHub
identity pinning, "store temporarily unavailable" failures, and re-validation on check.

No `from __future__ import annotations` here: bittensor's Axon.attach inspects the
forward/blacklist annotations at runtime and needs real classes.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
import typing
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import bittensor.utils.networking as bt_networking

# bittensor looks up the machine's external IP when axons/dendrites are built; there is
# no internet here and every peer lives on loopback anyway.
bt_networking.get_external_ip = lambda: "127.0.0.1"

import bittensor as bt  # noqa: E402
from bittensor_wallet import Wallet  # noqa: E402
from pydantic import Field  # noqa: E402


class ErrorLines(logging.Handler):
    """Counts the ERROR (and worse) lines bittensor writes to a validator's log: what a
    validator operator sees of our requests. The axon middleware logs every request it
    refuses at ERROR (`log_and_handle_error`); accepted ones only at TRACE."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.count = 0
        self.recent: list[str] = []

    def emit(self, record: logging.LogRecord):
        self.count += 1
        self.recent = (self.recent + [record.getMessage()[:300]])[-5:]


ERROR_LINES = ErrorLines()
# The logging machine's own std logger: every bittensor line passes through it.
bt.logging._logger.addHandler(ERROR_LINES)


class PatBroadcastSynapse(bt.Synapse):
    """Same wire shape as gittensor.synapses.PatBroadcastSynapse."""

    github_access_token: str = Field(repr=False)
    accepted: Optional[bool] = None
    rejection_reason: Optional[str] = None


class PatCheckSynapse(bt.Synapse):
    """Same wire shape as gittensor.synapses.PatCheckSynapse."""

    has_pat: Optional[bool] = None
    pat_valid: Optional[bool] = None
    rejection_reason: Optional[str] = None


IDENTITY_LOCKED = (
    "GitHub identity is locked for this hotkey. Deregister and re-register to change GitHub accounts."
)
STORE_UNAVAILABLE_CHECK = "Validator PAT store temporarily unavailable; please retry."
STORE_UNAVAILABLE_BROADCAST = "Validator PAT store temporarily unavailable; please retry. (emulated)"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_wallet(root: str, name: str, hotkey: str = "default") -> Wallet:
    wallet = Wallet(name=name, hotkey=hotkey, path=root)
    wallet.create_new_coldkey(use_password=False, overwrite=True, suppress=True)
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return wallet


class FakeGitHub:
    """Just enough of api.github.com: GET /user and POST /graphql, per-token behaviour."""

    def __init__(self, in_process: bool = False):
        self.in_process = in_process
        self.lock = threading.Lock()
        # token -> {"login", "id", "valid", "expiry", "status"}
        self.tokens: dict[str, dict] = {}
        self.user_calls = 0
        self.graphql_calls = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def set_token(self, token: str, login: str, user_id: int, valid: bool = True,
                  expiry: Optional[str] = None, status: Optional[int] = None):
        with self.lock:
            self.tokens[token] = {"login": login, "id": user_id, "valid": valid,
                                  "expiry": expiry, "status": status}

    def lookup(self, auth_header: str) -> Optional[dict]:
        token = auth_header.split(" ", 1)[1] if " " in auth_header else ""
        with self.lock:
            return dict(self.tokens[token]) if token in self.tokens else None

    def identity(self, token: str) -> tuple[Optional[str], Optional[str], bool]:
        """Validator-side lookup: (github_id, error, transient)."""
        if self.in_process:
            # Benchmarks: the same answer without an HTTP round trip, so the emulated
            # validators are not the bottleneck of what is measured.
            tok = self.lookup(f"token {token}")
            if tok is None or not tok["valid"]:
                return None, "No Github id found for miner's PAT", False
            return str(tok["id"]), None, False
        try:
            req = urllib.request.Request(f"{self.url}/user", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                return str(json.loads(resp.read())["id"]), None, False
        except urllib.error.HTTPError as e:
            if e.code >= 500:
                return None, "GitHub /user lookup failed transiently", True
            return None, "No Github id found for miner's PAT", False
        except OSError:
            return None, "GitHub /user lookup failed transiently", True

    def serve(self):
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict, headers: Optional[dict] = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _auth(self) -> Optional[dict]:
                return github.lookup(self.headers.get("Authorization", ""))

            def do_GET(self):
                if self.path != "/user":
                    return self._reply(404, {"message": "Not Found"})
                with github.lock:
                    github.user_calls += 1
                tok = self._auth()
                if tok and tok["status"]:
                    return self._reply(tok["status"], {"message": "emulated failure"})
                if not tok or not tok["valid"]:
                    return self._reply(401, {"message": "Bad credentials"})
                headers = {}
                if tok["expiry"]:
                    headers["github-authentication-token-expiration"] = tok["expiry"]
                self._reply(200, {"login": tok["login"], "id": tok["id"]}, headers)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path != "/graphql":
                    return self._reply(404, {"message": "Not Found"})
                with github.lock:
                    github.graphql_calls += 1
                tok = self._auth()
                if tok and tok["status"]:
                    return self._reply(tok["status"], {"message": "emulated failure"})
                if not tok or not tok["valid"]:
                    return self._reply(401, {"message": "Bad credentials"})
                self._reply(200, {"data": {"viewer": {"login": tok["login"]}}})

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()


class EmulatedValidator:
    def __init__(self, uid: int, wallet: Wallet, github: FakeGitHub, allowed: set[str]):
        self.uid = uid
        self.wallet = wallet
        self.github = github
        self.port = free_port()
        self.allowed = set(allowed)  # stands for the metagraph's hotkeys
        self.lock = threading.Lock()
        self.store: dict[str, dict] = {}  # miner hotkey -> {"pat", "github_id"}
        self.pinned: dict[str, str] = {}  # miner hotkey -> github_id (survives store loss)
        self.store_unavailable = False
        self.delay = 0.0
        self.broadcast_delay = 0.0  # extra, broadcasts only: a validator slow to store a PAT
        self.checks = 0
        self.broadcasts = 0
        self.restarts = 0  # completed restarts (the new axon is up)
        # (seconds, lose_store): restart this long after the next PatCheck arrives.
        self.restart_after_check: Optional[tuple[float, bool]] = None
        self.axon: Optional[bt.Axon] = None
        self.start()

    # -- lifecycle -------------------------------------------------------------
    def start(self):
        axon = bt.Axon(wallet=self.wallet, ip="127.0.0.1", port=self.port, external_ip="127.0.0.1")
        axon.fast_config.host = "127.0.0.1"  # Axon binds 0.0.0.0 by default; stay on loopback
        validator = self

        async def forward_check(synapse: PatCheckSynapse) -> PatCheckSynapse:
            return await validator.handle_check(synapse)

        async def blacklist_check(synapse: PatCheckSynapse) -> typing.Tuple[bool, str]:
            return validator.blacklist(synapse)

        async def forward_broadcast(synapse: PatBroadcastSynapse) -> PatBroadcastSynapse:
            return await validator.handle_broadcast(synapse)

        async def blacklist_broadcast(synapse: PatBroadcastSynapse) -> typing.Tuple[bool, str]:
            return validator.blacklist(synapse)

        axon.attach(forward_fn=forward_check, blacklist_fn=blacklist_check)
        axon.attach(forward_fn=forward_broadcast, blacklist_fn=blacklist_broadcast)
        axon.start()
        wait_for_port(self.port)
        self.axon = axon

    def stop(self):
        if self.axon is not None:
            self.axon.stop()
            self.axon = None
            wait_for_port_closed(self.port)

    def restart(self, lose_store: bool):
        self.stop()
        if lose_store:
            with self.lock:
                self.store.clear()
        self.start()
        with self.lock:
            self.restarts += 1

    # -- gittensor semantics ---------------------------------------------------
    def blacklist(self, synapse: bt.Synapse) -> tuple[bool, str]:
        hotkey = synapse.dendrite.hotkey
        if hotkey not in self.allowed:
            return True, f"Hotkey {hotkey[:16]}... not registered"
        return False, "Hotkey recognized"

    async def handle_check(self, synapse: PatCheckSynapse) -> PatCheckSynapse:
        hotkey = synapse.dendrite.hotkey
        with self.lock:
            self.checks += 1
            delay, unavailable = self.delay, self.store_unavailable
            armed, self.restart_after_check = self.restart_after_check, None
            entry = dict(self.store[hotkey]) if hotkey in self.store else None
        if armed is not None:
            threading.Timer(armed[0], self.restart, args=(armed[1],)).start()
        if delay:
            await asyncio.sleep(delay)
        if unavailable:
            synapse.has_pat, synapse.pat_valid = False, None
            synapse.rejection_reason = STORE_UNAVAILABLE_CHECK
            return synapse
        if entry is None:
            synapse.has_pat, synapse.pat_valid = False, False
            synapse.rejection_reason = "No PAT stored for this miner"
            return synapse
        synapse.has_pat = True
        github_id, error, transient = await asyncio.to_thread(self.github.identity, entry["pat"])
        if transient:
            synapse.pat_valid = None
            synapse.rejection_reason = "GitHub API temporarily unavailable; retry the check in a few minutes."
        elif error:
            synapse.pat_valid = False
            synapse.rejection_reason = error
        else:
            synapse.pat_valid = True
        return synapse

    async def handle_broadcast(self, synapse: PatBroadcastSynapse) -> PatBroadcastSynapse:
        hotkey = synapse.dendrite.hotkey
        pat = synapse.github_access_token
        synapse.github_access_token = ""  # never echo the PAT back
        with self.lock:
            self.broadcasts += 1
            delay, unavailable = self.delay + self.broadcast_delay, self.store_unavailable
        if delay:
            await asyncio.sleep(delay)

        def reject(reason: str) -> PatBroadcastSynapse:
            synapse.accepted, synapse.rejection_reason = False, reason
            return synapse

        github_id, error, _ = await asyncio.to_thread(self.github.identity, pat)
        if error:
            return reject(error)
        if unavailable:
            return reject(STORE_UNAVAILABLE_BROADCAST)
        with self.lock:
            pinned = self.pinned.get(hotkey)
            if pinned is not None and pinned != github_id:
                return reject(IDENTITY_LOCKED)
            self.pinned[hotkey] = github_id
            self.store[hotkey] = {"pat": pat, "github_id": github_id}
        synapse.accepted = True
        return synapse

    def stats(self) -> dict:
        with self.lock:
            return {
                "uid": self.uid,
                "checks": self.checks,
                "broadcasts": self.broadcasts,
                "restarts": self.restarts,
                "uuid": self.axon.uuid if self.axon else None,
                "up": self.axon is not None,
                "stored_hotkeys": sorted(self.store),
                # The last 4 characters of each stored PAT: enough to tell a rotation happened.
                "stored_pat_tails": {k: v["pat"][-4:] for k, v in self.store.items()},
            }


def wait_for_port(port: int, timeout: float = 15.0):
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"axon on port {port} did not start")


def wait_for_port_closed(port: int, timeout: float = 15.0):
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.05)
        except OSError:
            return
    raise RuntimeError(f"axon on port {port} did not stop")


class Network:
    def __init__(self, root: str, count: int, in_process_github: bool = False, miners: int = 1):
        self.root = root
        self.github = FakeGitHub(in_process_github)
        self.github.serve()
        self.miner = make_wallet(root, "miner")
        # More miners (`--miners N`): wallets miner2 … minerN, each hotkey known to every
        # validator, for several agents side by side (one per hotkey).
        self.other_miners = [make_wallet(root, f"miner{i}") for i in range(2, miners + 1)]
        self.stranger = make_wallet(root, "stranger")  # a hotkey no validator knows
        allowed = {w.hotkey.ss58_address for w in [self.miner, *self.other_miners]}
        self.validators = [
            EmulatedValidator(uid, make_wallet(root, f"validator{uid}"), self.github, allowed)
            for uid in range(count)
        ]

    def describe(self) -> dict:
        def hotkey_file(w: Wallet) -> str:
            return os.path.join(self.root, w.name, "hotkeys", "default")

        def miner(w: Wallet) -> dict:
            return {"wallet": w.name, "hotkey": "default", "ss58": w.hotkey.ss58_address,
                    "hotkey_file": hotkey_file(w)}

        return {
            "github_url": self.github.url,
            "wallets_dir": self.root,
            "miner": miner(self.miner),
            # Every miner, the first ("miner") included.
            "miners": [miner(w) for w in [self.miner, *self.other_miners]],
            "stranger": {"ss58": self.stranger.hotkey.ss58_address, "hotkey_file": hotkey_file(self.stranger)},
            "validators": [
                {"uid": v.uid, "hotkey": v.wallet.hotkey.ss58_address, "ip": "127.0.0.1", "port": v.port}
                for v in self.validators
            ],
        }

    def control(self, cmd: dict) -> dict:
        op = cmd.get("op")
        if op == "stats":
            g = self.github
            return {"validators": [v.stats() for v in self.validators],
                    "github": {"user_calls": g.user_calls, "graphql_calls": g.graphql_calls},
                    "log_errors": {"count": ERROR_LINES.count, "recent": ERROR_LINES.recent}}
        if op == "github_token":
            self.github.set_token(cmd["token"], cmd.get("login", "miner-login"), cmd.get("id", 1234),
                                  cmd.get("valid", True), cmd.get("expiry"), cmd.get("status"))
            return {}
        v = self.validators[cmd["uid"]]
        if op == "preload":  # the validator already holds this PAT for the miner
            github_id, error, _ = self.github.identity(cmd["token"])
            with v.lock:
                v.store[self.miner.hotkey.ss58_address] = {"pat": cmd["token"], "github_id": github_id or "0"}
                v.pinned[self.miner.hotkey.ss58_address] = github_id or "0"
        elif op == "lose_store":
            with v.lock:
                v.store.clear()
        elif op == "pin_identity":
            with v.lock:
                v.pinned[self.miner.hotkey.ss58_address] = str(cmd["github_id"])
        elif op == "store_unavailable":
            with v.lock:
                v.store_unavailable = bool(cmd["on"])
        elif op == "delay":
            with v.lock:
                v.delay = float(cmd["seconds"])
        elif op == "delay_broadcast":  # checks answer at once; broadcasts take this long
            with v.lock:
                v.broadcast_delay = float(cmd["seconds"])
        elif op == "down":
            v.stop()
        elif op == "up":
            if v.axon is None:
                v.start()
        elif op == "restart":
            v.restart(bool(cmd.get("lose_store", False)))
        elif op == "restart_after_check":  # the next PatCheck arms a restart this long after it
            with v.lock:
                v.restart_after_check = (float(cmd["seconds"]), bool(cmd.get("lose_store", False)))
        elif op == "allow":
            hotkey = cmd.get("hotkey", self.miner.hotkey.ss58_address)
            with v.lock:
                (v.allowed.add if cmd.get("allowed", True) else v.allowed.discard)(hotkey)
        else:
            raise ValueError(f"unknown op {op!r}")
        return {}

    def serve_control(self) -> int:
        network = self
        port = free_port()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = network.control(json.loads(self.rfile.read(length)))
                    status = 200
                except Exception as e:  # report to the test instead of dying
                    body, status = {"error": repr(e)}, 400
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return port


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validators", type=int, default=3)
    parser.add_argument("--miners", type=int, default=1,
                        help="miner hotkeys every validator knows (wallets miner, miner2, …)")
    parser.add_argument("--dir", default=None, help="where wallets are written (default: a temp dir)")
    parser.add_argument("--in-process-github", action="store_true",
                        help="validators look tokens up without an HTTP call (for benchmarks)")
    args = parser.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix="gma-emulator-")

    network = Network(root, args.validators, args.in_process_github, args.miners)
    description = network.describe()
    description["control_url"] = f"http://127.0.0.1:{network.serve_control()}"
    print(json.dumps(description), flush=True)

    # Run until the test closes our stdin (or kills us).
    try:
        sys.stdin.read()
    finally:
        for v in network.validators:
            if v.axon is not None:
                v.axon.stop()


if __name__ == "__main__":
    main()
