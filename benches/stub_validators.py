"""Light stand-ins for N validators (one asyncio process, one port each), for measuring
the *client* side without the emulated axons being the bottleneck: every POST gets
gittensor's "valid" PatCheck answer after `--delay` seconds. They do not check signatures;
that real axons accept the agent's requests is proven by the test suite, not here.

Prints one JSON line like tests/emulator/emulator.py, then serves until stdin closes.
"""

import argparse
import asyncio
import json
import sys

from aiohttp import web


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--validators", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--like", required=True, help="an emulator description to borrow wallets and hotkeys from")
    args = parser.parse_args()
    like = json.load(open(args.like))

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        if args.delay:
            await asyncio.sleep(args.delay)
        body.update({"has_pat": True, "pat_valid": True, "rejection_reason": None})
        return web.json_response(body)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/{name}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    validators = []
    hotkey = like["validators"][0]["hotkey"]
    for uid in range(args.validators):
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        validators.append({"uid": uid, "hotkey": hotkey, "ip": "127.0.0.1", "port": port})
    print(json.dumps({**like, "validators": validators}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
