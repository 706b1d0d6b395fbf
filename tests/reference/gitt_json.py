"""What `gitt miner check --json` / `gitt miner post --json` print for an emulated network.

Usage: gitt_json.py NETWORK.json check|post TIMEOUT_SECS   (the PAT in $GITTENSOR_MINER_PAT)

The answers come from bittensor 10.3.1's own `Dendrite`, exactly as `gitt` gets them: one
call to every validator axon with `deserialize=False`. The object printed is assembled the
way gittensor's CLI does it (`cli/miner_commands/check.py`, `post.py`, `helpers.py`):
restated here because the gittensor package itself is not installable in this workplace.
The chain is left out (the validators are the emulator's list, so `skipped` is empty) and
the timeout is shortened (gitt: 15 s check, 30 s post); neither changes a value printed.
"""

import asyncio
import json
import os
import sys

import bittensor.utils.networking as bt_networking

bt_networking.get_external_ip = lambda: "127.0.0.1"  # no internet here

import bittensor as bt  # noqa: E402
from bittensor_wallet import Wallet  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "emulator"))
from emulator import PatBroadcastSynapse, PatCheckSynapse  # noqa: E402


def check_category(row):
    # helpers.py `_pat_check_row_category`: the order of the tests matters.
    if row.get("pat_valid") is True:
        return "valid"
    if row.get("has_pat") is False:
        return "no_pat"
    if row.get("has_pat") is True and row.get("pat_valid") is False:
        return "invalid_pat"
    if row.get("has_pat") is True and row.get("pat_valid") is None:
        return "inconclusive"
    return "no_response"


def post_category(row):
    # helpers.py `_pat_post_row_category`.
    if row.get("accepted") is True:
        return "accepted"
    if row.get("accepted") is False:
        return "rejected"
    return "no_response"


def main():
    info = json.load(open(sys.argv[1]))
    mode, timeout = sys.argv[2], float(sys.argv[3])
    miner = info["miner"]
    wallet = Wallet(name=miner["wallet"], hotkey=miner["hotkey"], path=info["wallets_dir"])
    dendrite = bt.Dendrite(wallet=wallet)
    validators = info["validators"]
    axons = [
        bt.AxonInfo(version=1, ip=v["ip"], port=v["port"], ip_type=4, hotkey=v["hotkey"], coldkey=v["hotkey"])
        for v in validators
    ]
    if mode == "check":
        synapse = PatCheckSynapse()
    else:
        synapse = PatBroadcastSynapse(github_access_token=os.environ["GITTENSOR_MINER_PAT"])

    async def call():
        try:
            return await dendrite(axons=axons, synapse=synapse, deserialize=False, timeout=timeout)
        finally:
            await dendrite.aclose_session()

    responses = asyncio.run(call())

    results = []
    for v, axon, resp in zip(validators, axons, responses):
        row = {"uid": v["uid"], "hotkey": axon.hotkey[:16] + "..."}
        if mode == "check":
            row["has_pat"] = getattr(resp, "has_pat", None)
            row["pat_valid"] = getattr(resp, "pat_valid", None)
            row["rejection_reason"] = getattr(resp, "rejection_reason", None)
        else:
            row["accepted"] = getattr(resp, "accepted", None)
            row["rejection_reason"] = getattr(resp, "rejection_reason", None)
            row["status_code"] = getattr(resp.dendrite, "status_code", None) if hasattr(resp, "dendrite") else None
        results.append(row)

    if mode == "check":
        names = ["valid", "no_pat", "invalid_pat", "inconclusive", "no_response"]
        counts = {name: sum(1 for r in results if check_category(r) == name) for name in names}
        head = {"success": counts["valid"] > 0, "total_validators": len(results)}
    else:
        names = ["accepted", "rejected", "no_response"]
        counts = {name: sum(1 for r in results if post_category(r) == name) for name in names}
        head = {"success": counts["accepted"] > 0, "github_login": sys.argv[4], "total_validators": len(results)}
    print(json.dumps({**head, **counts, "skipped": [], "results": results}, indent=2), flush=True)


if __name__ == "__main__":
    main()
