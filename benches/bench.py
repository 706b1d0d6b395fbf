"""Side-by-side benchmark: the agent's `check` against the reference (bittensor 10.3.1's own
Dendrite, the code path of `gitt miner check` minus the chain), on emulated validators
(real bittensor axons on 127.0.0.1), and the daemon's steady state.

Run it with `benches/run`, which builds the release binary and uses the test venv.
Writes the tables to stdout and to benches/results.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(ROOT, "target", "release", "gittensor-miner-agent")
# The .deb's build (`--no-default-features`), kept apart so that both can be measured.
AGENT_DEB = os.path.join(ROOT, "target", "deb-variant", "release", "gittensor-miner-agent")
EMULATOR = os.path.join(ROOT, "tests", "emulator", "emulator.py")
REFERENCE = os.path.join(ROOT, "benches", "reference_check.py")
PAT = "ghp_BenchmarkToken_0123456789"


class Network:
    """An emulated network of `count` validators, all holding the miner's PAT."""

    def __init__(self, count: int, workdir: str):
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--validators", str(count), "--dir", os.path.join(workdir, "wallets"), "--in-process-github"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.info = json.loads(self.proc.stdout.readline())
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.path = os.path.join(workdir, f"network-{count}.json")
        with open(self.path, "w") as f:
            json.dump(self.info, f)
        self.control({"op": "github_token", "token": PAT, "login": "bench", "id": 1})
        for v in self.info["validators"]:
            self.control({"op": "preload", "uid": v["uid"], "token": PAT})

    def control(self, op: dict) -> dict:
        req = urllib.request.Request(self.info["control_url"], data=json.dumps(op).encode())
        return json.loads(urllib.request.urlopen(req, timeout=30).read())

    def delay_all(self, seconds: float):
        for v in self.info["validators"]:
            self.control({"op": "delay", "uid": v["uid"], "seconds": seconds})

    def config(self, workdir: str, extra: str = "") -> str:
        lines = [
            f'hotkey_file = "{self.info["miner"]["hotkey_file"]}"',
            f'github_api_url = "{self.info["github_url"]}"',
            extra,
            "[pat]", 'store = "none"',
        ]
        for v in self.info["validators"]:
            lines += ["[[validators]]", f'uid = {v["uid"]}', f'hotkey = "{v["hotkey"]}"', f'ip = "{v["ip"]}"', f'port = {v["port"]}']
        path = os.path.join(workdir, f"agent-{len(self.info['validators'])}.toml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Stubs(Network):
    """Light stand-in validators (benches/stub_validators.py), wallets borrowed from `like`."""

    def __init__(self, count: int, delay: float, like: Network, workdir: str):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "benches", "stub_validators.py"), "--validators", str(count),
             "--delay", str(delay), "--like", like.path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.info = json.loads(self.proc.stdout.readline())
        self.path = os.path.join(workdir, f"stubs-{count}-{delay}.json")
        with open(self.path, "w") as f:
            json.dump(self.info, f)


def timed(cmd: list, env=None) -> dict:
    """Wall time, CPU time and peak RSS of one run, from GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "BENCH %e %U %S %M", *cmd], capture_output=True, text=True, env=env)
    line = [l for l in out.stderr.splitlines() if l.startswith("BENCH ")][-1].split()
    return {
        "wall": float(line[1]), "cpu": float(line[2]) + float(line[3]), "rss_mib": int(line[4]) / 1024,
        "stdout": out.stdout, "code": out.returncode,
    }


def valid_count(stdout: str) -> int:
    """The N of "N/M validators have a valid PAT stored." in either program's output."""
    for line in stdout.splitlines():
        if "validators have a valid PAT stored" in line:
            return int(line.strip().split("/")[0])
    return -1


def median_of(runs: list, key: str) -> float:
    return statistics.median(r[key] for r in runs)


def compare(sizes: list, repeats: int, workdir: str, network) -> list:
    """Agent and reference, `repeats` times each, against `network(n)` for each size."""
    rows = []
    env = dict(os.environ, GITTENSOR_MINER_PAT="")
    for n in sizes:
        net = network(n)
        try:
            config = net.config(workdir)
            agent_runs = [timed([AGENT, "check", "--config", config], env) for _ in range(repeats)]
            reference_runs = [timed([sys.executable, REFERENCE, net.path]) for _ in range(repeats)]
            # How many validators each saw as covered (all of them are), worst run.
            row = {"n": n, "agent_valid": min(valid_count(r["stdout"]) for r in agent_runs),
                   "reference_valid": min(valid_count(r["stdout"]) for r in reference_runs)}
            for key in ("wall", "cpu", "rss_mib"):
                row[f"agent_{key}"] = median_of(agent_runs, key)
                row[f"reference_{key}"] = median_of(reference_runs, key)
            rows.append(row)
            print(f"{type(net).__name__} N={n}: {row}", file=sys.stderr)
        finally:
            net.close()
    return rows


def cycle_on_stubs(n: int, delay: float, workdir: str) -> dict:
    """N validators that each take `delay` s, against one: do the probes overlap?"""
    like = Network(1, workdir)
    try:
        walls = {}
        for count in (n, 1):
            stubs = Stubs(count, delay, like, workdir)
            try:
                walls[count] = timed([AGENT, "check", "--config", stubs.config(workdir)])["wall"]
            finally:
                stubs.close()
        return {"n": n, "delay": delay, "cycle_wall": walls[n], "single_wall": walls[1]}
    finally:
        like.close()


def cycle(n: int, delay: float, workdir: str) -> dict:
    """A check of N validators that each take `delay` s to answer, against one probe."""
    net = Network(n, workdir)
    try:
        net.delay_all(delay)
        config = net.config(workdir)
        full = timed([AGENT, "check", "--config", config])
        assert f"{n}/{n}" in full["stdout"], full["stdout"][-400:]
        single_net = Network(1, workdir)
        try:
            single_net.delay_all(delay)
            single = timed([AGENT, "check", "--config", single_net.config(workdir)])
        finally:
            single_net.close()
        return {"n": n, "delay": delay, "cycle_wall": full["wall"], "single_wall": single["wall"]}
    finally:
        net.close()


def steady_state(n: int, sweeps: int, interval: float, workdir: str, agent: str = AGENT) -> dict:
    """The daemon (`agent`, the release binary by default) over `sweeps` shortened sweeps: RSS and CPU."""
    net = Network(n, workdir)
    try:
        extra = (
            f"[daemon]\nsweep_interval_secs = {interval}\nsweep_jitter_secs = 0\nsweep_spread_secs = 0.5\n"
            f"liveness_interval_secs = {interval}\nchain_refresh_secs = 60\nstate_dir = \"{workdir}/state\"\n"
        )
        config = net.config(workdir, extra)
        env = dict(os.environ, GITTENSOR_MINER_PAT=PAT, RUST_LOG="warn")
        proc = subprocess.Popen([agent, "run", "--config", config], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ticks = os.sysconf("SC_CLK_TCK")
        started = time.time()
        rss = []
        time.sleep(2)
        while time.time() - started < sweeps * interval + 2:
            with open(f"/proc/{proc.pid}/status") as f:
                rss.append(next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024)
            time.sleep(1)
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        elapsed = time.time() - started
        proc.terminate()
        proc.wait(timeout=10)
        checks = sum(v["checks"] for v in net.control({"op": "stats"})["validators"])
        return {
            "n": n, "sweeps": sweeps, "interval": interval, "elapsed": elapsed, "checks": checks,
            "rss_max_mib": max(rss), "rss_last_mib": rss[-1], "cpu_s": cpu, "cpu_s_per_hour": cpu / elapsed * 3600,
        }
    finally:
        net.close()


def cargo_tree(*args: str) -> list:
    """The agent's release dependency graph (normal and build dependencies), one `name vX` a line."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal,build", "--prefix", "none", "-f", "{p}",
         "-p", "gittensor-miner-agent", "--target", "x86_64-unknown-linux-gnu", *args],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout
    return sorted({" ".join(line.split()[:2]) for line in out.splitlines() if line.strip()})


def lean(scratch: bool) -> dict:
    """Binary sizes (default build, and the .deb's without `secret-service`), the crates and
    their duplicates, the TLS providers compiled in, and optionally a from-scratch build."""
    out = {"size_default": os.path.getsize(AGENT), "size_deb": os.path.getsize(AGENT_DEB)}
    for variant, args in (("default", []), ("deb", ["--no-default-features"])):
        crates = cargo_tree(*args)
        names = [c.split()[0] for c in crates]
        dups = sorted({n for n in names if names.count(n) > 1})
        out[f"crates_{variant}"] = len(crates) - 1  # less the agent itself
        out[f"dups_{variant}"] = [f"{n} ({', '.join(c.split()[1] for c in crates if c.split()[0] == n)})" for n in dups]
        out[f"providers_{variant}"] = [n for n in ("ring", "aws-lc-rs") if n in names]
        out[f"zbus_{variant}"] = "zbus" in names
    if scratch:
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="gma-scratch-") as target:
            started = time.time()
            subprocess.run(["cargo", "build", "--release", "--locked", "-p", "gittensor-miner-agent"], cwd=ROOT, check=True,
                           env=dict(os.environ, CARGO_TARGET_DIR=target), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out["scratch_s"] = time.time() - started
        out["scratch_load"] = (load_before, os.getloadavg()[0])
    return out


def lean_lines(l: dict) -> list:
    mib = lambda b: b / 1024 / 1024  # noqa: E731
    lines = [
        f"Stripped release binary: {mib(l['size_default']):.2f} MiB ({l['size_default']} bytes) with default features; "
        f"{mib(l['size_deb']):.2f} MiB ({l['size_deb']} bytes) as the .deb builds it (`--no-default-features`: no Secret Service).",
    ]
    for variant, label in (("default", "default features"), ("deb", "the .deb's build")):
        lines.append(
            f"Crates ({label}): {l[f'crates_{variant}']}; TLS crypto providers: {', '.join(l[f'providers_{variant}'])}; "
            f"zbus: {'yes' if l[f'zbus_{variant}'] else 'no'}; in two or more versions: {len(l[f'dups_{variant}'])} "
            f"({'; '.join(l[f'dups_{variant}'])})."
        )
    if "scratch_s" in l:
        lines.append(
            f"Clean release build from scratch (default features, empty target dir, {os.cpu_count()} cores): "
            f"{l['scratch_s'] / 60:.1f} min (load average {l['scratch_load'][0]:.1f} before, {l['scratch_load'][1]:.1f} after)."
        )
    return lines


def table(rows: list) -> list:
    out = ["| N | wall agent / reference (s) | ratio | CPU agent / reference (s) | ratio | peak RSS agent / reference (MiB) | ratio | answered valid agent / reference |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['n']} | {r['agent_wall']:.2f} / {r['reference_wall']:.2f} | {r['agent_wall'] / r['reference_wall']:.2f} "
            f"| {r['agent_cpu']:.2f} / {r['reference_cpu']:.2f} | {r['agent_cpu'] / max(r['reference_cpu'], 0.01):.2f} "
            f"| {r['agent_rss_mib']:.1f} / {r['reference_rss_mib']:.1f} | {r['agent_rss_mib'] / r['reference_rss_mib']:.3f} "
            f"| {r['agent_valid']}/{r['n']} / {r['reference_valid']}/{r['n']} |"
        )
    return out


def cycle_line(label: str, c: dict) -> str:
    return (f"{label}: `check` of N = {c['n']} validators that each answer after {c['delay']:.1f} s took {c['cycle_wall']:.2f} s; "
            f"one such validator alone took {c['single_wall']:.2f} s (ratio {c['cycle_wall'] / c['single_wall']:.2f}).")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="8,64,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweeps", type=int, default=30)
    parser.add_argument("--scratch", action="store_true", help="also time a clean release build in an empty target dir")
    parser.add_argument("--daemon-only", nargs="+", metavar="BINARY",
                        help="only the daemon's steady state (N = 64), once per binary given (e.g. a musl and a glibc build), "
                             "printed; benches/results.md is left alone")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.daemon_only:
        for binary in args.daemon_only:
            with tempfile.TemporaryDirectory(prefix="gma-bench-") as workdir:
                st = steady_state(64, args.sweeps, 2.0, workdir, agent=os.path.abspath(binary))
            print(f"{binary}: {os.path.getsize(binary)} bytes; N = 64, {st['sweeps']} sweeps, {st['checks']} checks: "
                  f"RSS {st['rss_last_mib']:.1f} MiB at the end, {st['rss_max_mib']:.1f} MiB at most; CPU {st['cpu_s']:.2f} s")
        return

    with tempfile.TemporaryDirectory(prefix="gma-bench-") as workdir:
        rows = compare(sizes, args.repeats, workdir, lambda n: Network(n, workdir))
        cyc = cycle(max(sizes), 1.0, workdir)
        like = Network(1, workdir)
        try:
            client_rows = compare(sizes, args.repeats, workdir, lambda n: Stubs(n, 0.0, like, workdir))
        finally:
            like.close()
        client_cyc = cycle_on_stubs(max(sizes), 1.0, workdir)
        steady = steady_state(64, args.sweeps, 2.0, workdir)

    out = lean_lines(lean(args.scratch)) + [""]
    out += ["Against emulated validators (real bittensor 10.3.1 axons, all in one Python process on the same cores):", ""]
    out += table(rows)
    out += ["", cycle_line("Cycle on emulated axons", cyc), "",
            "Against light stub validators (benches/stub_validators.py: one asyncio process, canned answers), "
            "so that the clients, not the validators, are what is measured:", ""]
    out += table(client_rows)
    out += ["", cycle_line("Cycle on stubs", client_cyc), "",
            f"Daemon steady state, N = {steady['n']}, {steady['sweeps']} sweeps every {steady['interval']:.0f} s "
            f"(liveness every {steady['interval']:.0f} s), {steady['elapsed']:.0f} s, {steady['checks']} checks answered: "
            f"RSS {steady['rss_last_mib']:.1f} MiB at the end, {steady['rss_max_mib']:.1f} MiB at most; "
            f"CPU {steady['cpu_s']:.2f} s = {steady['cpu_s_per_hour']:.0f} s per hour at this (450× shortened) pace."]
    text = "\n".join(out)
    print(text)
    with open(os.path.join(ROOT, "benches", "results.md"), "w") as f:
        f.write(f"Measured by `benches/run` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores).\n\n{text}\n")


if __name__ == "__main__":
    main()
