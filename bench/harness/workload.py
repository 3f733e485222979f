"""The requests every contender sends, and the check of the answers they write.

requests.tsv holds one request per line: id, token estimate, JSON body (JSON never holds a
raw tab or newline, so the three fields split cleanly in every language). The first line of
each prompt, "Request <id> of <n>", is unique: the mock quotes it, which lets the harness
check that every answer is there and in submission order.
"""
import json
import math
import random

MODEL_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
MAX_OUTPUT_TOKENS = 64
FILLER = ("Explain the topic with short runnable examples, name the pitfalls, and end with "
          "three exercises. ")


def first_line(i, n):
    return "Request %d of %d" % (i, n)


def estimate_tokens(prompt):
    """The clients' estimate: 4 characters a token, plus the output budget."""
    return math.ceil(len(prompt) / 4) + MAX_OUTPUT_TOKENS


def prompt_for(i, n, chars, rng):
    text = first_line(i, n) + "\n"
    lo, hi = chars
    if hi:
        size = rng.randint(lo, hi)
        text += (FILLER * (size // len(FILLER) + 1))[:size]
    else:
        text += "Write one short paragraph."
    return text


def write_requests(path, scenario, seed=7):
    """Writes requests.tsv; returns the sum of the token estimates (for the lower bound)."""
    rng = random.Random(seed)
    total = 0
    with open(path, "w") as f:
        for i in range(1, scenario.n + 1):
            prompt = prompt_for(i, scenario.n, scenario.prompt_chars, rng)
            body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
                    "generationConfig": {"maxOutputTokens": MAX_OUTPUT_TOKENS}}
            tokens = estimate_tokens(prompt)
            total += tokens
            f.write("%d\t%d\t%s\n" % (i, tokens, json.dumps(body, separators=(",", ":"))))
    return total


def read_requests(path):
    with open(path) as f:
        for line in f:
            i, tokens, body = line.rstrip("\n").split("\t", 2)
            yield int(i), int(tokens), body


def answer_text(body):
    """The first line of a Gemini answer's text, or None when the body is not an answer."""
    try:
        doc = json.loads(body)
        text = doc["candidates"][0]["content"]["parts"][0]["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return next((l for l in text.splitlines() if l.strip()), "")


def check_answers(path, n, fixed=None):
    """(ok, present): ok when line k is answer k for every k; present counts the lines
    that hold the right answer at the right place. `fixed`: every answer starts with this
    text (the gateway's does not quote the prompt, so only presence can be checked)."""
    present = 0
    try:
        with open(path, errors="replace") as f:
            for k, line in enumerate(f, 1):
                rid, _, text = line.rstrip("\n").partition("\t")
                if k <= n and rid == str(k) and (text.startswith(fixed) if fixed else first_line(k, n) in text):
                    present += 1
    except FileNotFoundError:
        return False, 0
    return present == n, present
