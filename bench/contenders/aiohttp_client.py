"""An asyncio + aiohttp client in the style of the OpenAI cookbook's parallel processor.

As there: two capacities (requests/min and tokens/min) that refill continuously and start
full with a minute's worth; a loop that wakes every millisecond; a retry queue served
before new requests; no per-request backoff; after a 429 every request waits until 15 s
have passed since the last one; results collected in completion order and sorted at the
end. Two departures, both in its favour: the loop admits every request that fits in a
tick (the original admits one, capping it at 1,000 requests/s), and a concurrency cap
(the original has none) so it runs at the same concurrency as the others.

Usage: aiohttp_client.py --url U --requests FILE --out FILE --concurrency C --rpm R --tpm T
(0: no limit)
"""
import argparse
import asyncio
import time

import aiohttp

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
MAX_ATTEMPTS = 5
PAUSE_AFTER_RATE_LIMIT_S = 15
TICK_S = 0.001


class Capacity:
    """A capacity refilled at max/60 per second and capped at max, like the cookbook's."""

    def __init__(self, per_minute):
        self.max = per_minute
        self.available = per_minute
        self.last = time.monotonic()

    def refill(self, now):
        if self.max:
            self.available = min(self.max, self.available + self.max * (now - self.last) / 60)
        self.last = now

    def fits(self, amount):
        return not self.max or self.available >= amount

    def take(self, amount):
        if self.max:
            self.available -= amount


class Status:
    def __init__(self):
        self.in_flight = 0
        self.last_rate_limit = float("-inf")
        self.failed = 0


async def call(session, url, req, results, retry_queue, status):
    rid, tokens, body, attempts = req
    try:
        async with session.post(url + PATH, data=body,
                                headers={"Content-Type": "application/json"}) as r:
            doc = await r.json(content_type=None)
        if "error" in doc:
            if r.status == 429:
                status.last_rate_limit = time.monotonic()
            raise RuntimeError(doc["error"].get("message", "error %d" % r.status))
        text = doc["candidates"][0]["content"]["parts"][0]["text"]
        results[rid] = next((l for l in text.splitlines() if l.strip()), "")
    except Exception as e:  # the cookbook retries every failure the same way
        if attempts + 1 < MAX_ATTEMPTS:
            retry_queue.append((rid, tokens, body, attempts + 1))
        else:
            results[rid] = "error: %s" % e
            status.failed += 1
    finally:
        status.in_flight -= 1


async def run(a):
    requests = open(a.requests)
    retry_queue, results, status = [], {}, Status()
    rpm, tpm = Capacity(a.rpm), Capacity(a.tpm)
    tasks = set()
    pending_line = True
    connector = aiohttp.TCPConnector(limit=a.concurrency)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        nxt = None
        while True:
            now = time.monotonic()
            rpm.refill(now)
            tpm.refill(now)
            while status.in_flight < a.concurrency:
                if nxt is None:
                    if retry_queue:
                        nxt = retry_queue.pop(0)
                    elif pending_line:
                        line = requests.readline()
                        if not line:
                            pending_line = False
                            break
                        rid, tokens, body = line.rstrip("\n").split("\t", 2)
                        nxt = (int(rid), int(tokens), body, 0)
                    else:
                        break
                if not (rpm.fits(1) and tpm.fits(nxt[1])):
                    break
                rpm.take(1)
                tpm.take(nxt[1])
                status.in_flight += 1
                t = asyncio.create_task(call(session, a.url, nxt, results, retry_queue, status))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                nxt = None
            if nxt is None and not retry_queue and not pending_line and status.in_flight == 0:
                break
            await asyncio.sleep(TICK_S)
            since = time.monotonic() - status.last_rate_limit
            if since < PAUSE_AFTER_RATE_LIMIT_S:
                await asyncio.sleep(PAUSE_AFTER_RATE_LIMIT_S - since)
    with open(a.out, "w") as out:
        for rid in sorted(results):
            out.write("%d\t%s\n" % (rid, results[rid].replace("\n", " ")))


def main():
    ap = argparse.ArgumentParser()
    for name in ("--url", "--requests", "--out"):
        ap.add_argument(name, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--rpm", type=float, default=0)
    ap.add_argument("--tpm", type=float, default=0)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
