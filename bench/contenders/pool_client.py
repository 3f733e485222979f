"""The approach coursegen replaces: a process pool, a random 0.1-0.5 s pause between
submissions as the only rate control, and a fixed retry. Python standard library only.

Usage: pool_client.py --url U --requests FILE --out FILE --concurrency C [--max-seconds S]
(--rpm/--tpm are accepted and ignored: the random pause is this approach's limiter.)
--max-seconds stops submitting after S seconds, so a benchmark can cap a run that is slow
by design; the answers written are then the ones submitted.
"""
import argparse
import concurrent.futures
import json
import random
import sys
import time
import urllib.error
import urllib.request

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
ATTEMPTS = 3
RETRY_SLEEP_S = 2.0


def fetch(url, body):
    """POST with a fixed retry; returns the first line of the answer, or an error text."""
    error = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(RETRY_SLEEP_S)
        req = urllib.request.Request(url + PATH, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                doc = json.loads(r.read())
            text = doc["candidates"][0]["content"]["parts"][0]["text"]
            return next((l for l in text.splitlines() if l.strip()), "")
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as e:
            error = "error: %s" % e
    return error


def main():
    ap = argparse.ArgumentParser()
    for name in ("--url", "--requests", "--out"):
        ap.add_argument(name, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--rpm", type=float, default=0)
    ap.add_argument("--tpm", type=float, default=0)
    ap.add_argument("--max-seconds", type=float, default=0)
    a = ap.parse_args()
    start = time.monotonic()
    futures = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=a.concurrency) as pool:
        with open(a.requests) as f:
            for line in f:
                rid, _, body = line.rstrip("\n").split("\t", 2)
                futures.append((rid, pool.submit(fetch, a.url, body)))
                if a.max_seconds and time.monotonic() - start > a.max_seconds:
                    break
                time.sleep(random.uniform(0.1, 0.5))
        with open(a.out, "w") as out:
            for rid, fut in futures:
                out.write("%s\t%s\n" % (rid, fut.result().replace("\n", " ")))
    print("submitted %d requests" % len(futures), file=sys.stderr)


if __name__ == "__main__":
    main()
