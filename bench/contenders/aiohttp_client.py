"""An asyncio + aiohttp client configured the way the libraries' own documentation says.

- aiohttp's client guide: one ClientSession for the whole run (a session per request
  throws its connection pool away), a TCPConnector whose `limit` is the concurrency, and
  timeouts given as a ClientTimeout (`total` per request, `sock_connect` for the connect).
- asyncio's documentation: an asyncio.Semaphore bounds the requests in flight, so the
  producer never holds more than the concurrency's worth of live attempts.
- aiolimiter's leaky bucket (AsyncLimiter), written out here because only Debian's
  python3-aiohttp is installed: the level leaks at the told rate and an entry waits until
  it fits. Its README: to avoid bursts, use a capacity of one entry per interval
  (`AsyncLimiter(1, 1 / rate)`); the server's burst is unknown, so requests are paced
  without one. The token limit is a second bucket holding one second's worth (or the
  largest request), each request entering with its token estimate.
- Retries on 429, 5xx, connection errors and timeouts, with capped exponential backoff and
  full jitter (random between 0 and min(cap, base * 2**attempt), the rule of AWS's
  "Exponential Backoff and Jitter", which Google Cloud's retry guidance follows), except
  when the server names the wait: the Retry-After header (seconds or an HTTP date) or
  Google's RetryInfo (`error.details[].retryDelay`, a protobuf Duration such as "1.5s"),
  which is honoured as given. A request waiting out its backoff gives its slot back.
- Every answer is delivered, written in submission order at the end.

Usage: aiohttp_client.py --url U --requests FILE --out FILE --concurrency C --rpm R --tpm T
                         [--ca-file PEM]        (0: no limit)
"""
import argparse
import asyncio
import email.utils
import json
import random
import ssl
import time

import aiohttp

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
MAX_ATTEMPTS = 10
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 32.0
RETRY_STATUS = {429, 500, 502, 503, 504}


class LeakyBucket:
    """aiolimiter's algorithm: the level drains at `rate` per second; an entry of `amount`
    waits until level + amount fits in `capacity`. Entries are served in arrival order.
    As in aiolimiter, the level is measured when the sleeper wakes, so a late timer
    spaces entries a little wider than the rate (never closer, which a limiter without
    burst tolerance on the server side would punish)."""

    def __init__(self, rate, capacity):
        self.rate, self.capacity = rate, capacity
        self.level, self.last = 0.0, time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, amount=1.0):
        amount = min(amount, self.capacity)   # a larger entry waits for an empty bucket
        async with self.lock:
            while True:
                now = time.monotonic()
                self.level = max(0.0, self.level - (now - self.last) * self.rate)
                self.last = now
                if self.level + amount <= self.capacity + 1e-9:
                    self.level += amount
                    return
                await asyncio.sleep((self.level + amount - self.capacity) / self.rate)


def retry_after_s(headers):
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def retry_info_s(doc):
    """Google's RetryInfo: error.details[] with retryDelay "1.5s"."""
    try:
        for d in doc["error"].get("details") or ():
            if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
                return float(str(d["retryDelay"]).rstrip("s"))
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    return None


def backoff_s(attempt):
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))


def first_line(doc):
    text = doc["candidates"][0]["content"]["parts"][0]["text"]
    return next((l for l in text.splitlines() if l.strip()), "")


class Client:
    def __init__(self, a, session, largest):
        self.url = a.url + PATH
        self.session = session
        self.slots = asyncio.Semaphore(a.concurrency)
        self.requests = LeakyBucket(a.rpm / 60, 1) if a.rpm else None
        tps = a.tpm / 60
        self.tokens = LeakyBucket(tps, max(tps, largest)) if a.tpm else None

    async def attempt(self, tokens, body):
        """(answer, None) or (None, error text, seconds to wait or None: not retryable)."""
        if self.requests:
            await self.requests.acquire()
        if self.tokens:
            await self.tokens.acquire(tokens)
        try:
            async with self.session.post(self.url, data=body,
                                         headers={"Content-Type": "application/json"}) as r:
                raw = await r.read()
                status, headers = r.status, r.headers
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            return None, "network: %s" % (e.__class__.__name__,), -1.0
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {}
        if status == 200:
            try:
                return first_line(doc), None, None
            except (KeyError, IndexError, TypeError):
                return None, "HTTP 200 without an answer", -1.0
        if status in RETRY_STATUS:
            hint = retry_after_s(headers)
            if hint is None and isinstance(doc, dict) and "error" in doc:
                hint = retry_info_s(doc)
            return None, "HTTP %d" % status, (-1.0 if hint is None else hint)
        return None, "HTTP %d" % status, None

    async def fetch(self, rid, tokens, body, results):
        """Holds a slot (taken by the producer) for the first attempt; gives it back while
        waiting out a backoff and takes it again for the next attempt."""
        try:
            for n in range(MAX_ATTEMPTS):
                if n:
                    await self.slots.acquire()
                try:
                    answer, error, wait = await self.attempt(tokens, body)
                finally:
                    self.slots.release()
                if error is None:
                    results[rid] = answer
                    return
                if wait is None or n + 1 == MAX_ATTEMPTS:
                    results[rid] = "error: " + error
                    return
                await asyncio.sleep(wait if wait >= 0 else backoff_s(n))
        except Exception as e:  # noqa: BLE001  (one bad request must not stop the run)
            results[rid] = "error: %r" % (e,)


async def run(a):
    with open(a.requests) as f:
        reqs = [line.rstrip("\n").split("\t", 2) for line in f if line.strip()]
    largest = max((int(t) for _, t, _ in reqs), default=1)
    ssl_ctx = ssl.create_default_context(cafile=a.ca_file) if a.ca_file else None
    connector = aiohttp.TCPConnector(limit=a.concurrency, ssl=ssl_ctx if ssl_ctx else True)
    timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
    results = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Client(a, session, largest)
        tasks = set()
        for rid, tokens, body in reqs:
            await client.slots.acquire()
            t = asyncio.create_task(client.fetch(int(rid), int(tokens), body, results))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
    with open(a.out, "w") as out:
        for rid, _, _ in reqs:
            out.write("%s\t%s\n" % (rid, results.get(int(rid), "missing").replace("\n", " ")))


def main():
    ap = argparse.ArgumentParser()
    for name in ("--url", "--requests", "--out"):
        ap.add_argument(name, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--rpm", type=float, default=0)
    ap.add_argument("--tpm", type=float, default=0)
    ap.add_argument("--ca-file", default="")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
