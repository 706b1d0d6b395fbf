"""The reference's code path for `gitt miner check`, minus the chain: bittensor 10.3.1's own
Dendrite sends PatCheckSynapse to every validator of an emulated network at once.

Usage: reference_check.py NETWORK.json  (the line tests/emulator/emulator.py prints)
"""

import asyncio
import json
import os
import sys

import bittensor.utils.networking as bt_networking

bt_networking.get_external_ip = lambda: "127.0.0.1"  # no internet here

import bittensor as bt  # noqa: E402
from bittensor_wallet import Wallet  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "emulator"))
from emulator import PatCheckSynapse  # noqa: E402


def main():
    info = json.load(open(sys.argv[1]))
    miner = info["miner"]
    wallet = Wallet(name=miner["wallet"], hotkey=miner["hotkey"], path=info["wallets_dir"])
    dendrite = bt.Dendrite(wallet=wallet)
    axons = [
        bt.AxonInfo(version=1, ip=v["ip"], port=v["port"], ip_type=4, hotkey=v["hotkey"], coldkey=v["hotkey"])
        for v in info["validators"]
    ]

    async def check():
        return await dendrite(axons=axons, synapse=PatCheckSynapse(), deserialize=False, timeout=15.0)

    responses = asyncio.run(check())
    valid = sum(1 for r in responses if getattr(r, "pat_valid", None) is True)
    print(f"{valid}/{len(responses)} validators have a valid PAT stored.")


if __name__ == "__main__":
    main()
