// A Node.js client configured as Bottleneck's README says: the limiter in front of the
// built-in fetch, with `maxConcurrent` and `minTime` for the told request rate ("enough for
// the majority of use cases", README), a reservoir growing every 250 ms (the README asks
// for multiples of 250) for the token rate, and retries from the "failed" event, which
// returns the wait in ms: the server's Retry-After header or Google's RetryInfo
// (error.details[].retryDelay) when it names one, else exponential backoff with full jitter.
// A https server's CA comes from NODE_EXTRA_CA_CERTS (Node's documented way to add one).
//
// Usage: node bottleneck_client.js --url U --requests FILE --out FILE --concurrency C
//                                  --rpm R --tpm T        (0: no limit)
"use strict";
const fs = require("fs");
const Bottleneck = require("bottleneck");

const PATH = "/v1beta/models/gemini-2.5-flash:generateContent";
const MAX_RETRIES = 9;    // ten attempts in all: every answer is delivered

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
  return a;
}

const args = parseArgs(process.argv.slice(2));
const concurrency = Number(args.concurrency);
const rps = Number(args.rpm || 0) / 60;
const tps = Number(args.tpm || 0) / 60;
const requests = fs.readFileSync(args.requests, "utf8").split("\n").filter(Boolean).map((line) => {
  const [id, tokens, body] = line.split("\t", 3);
  return { id, tokens: Number(tokens), body: line.slice(id.length + tokens.length + 2) };
});

// Requests per second: minTime spaces the starts; maxConcurrent caps the transfers.
const requestLimiter = new Bottleneck({ maxConcurrent: concurrency, minTime: rps ? 1000 / rps : 0 });

// Tokens per second: a reservoir that drips back every 250 ms, holding one second's worth
// (at least the largest request, which could never start otherwise). The job's weight is
// its token estimate; this limiter has no concurrency cap, the one above does that.
let tokenLimiter = null;
if (tps) {
  const largest = Math.max(...requests.map((r) => r.tokens));
  const maximum = Math.max(Math.ceil(tps), largest);
  tokenLimiter = new Bottleneck({
    reservoir: maximum,
    reservoirIncreaseInterval: 250,
    reservoirIncreaseAmount: Math.ceil(tps / 4),
    reservoirIncreaseMaximum: maximum,
  });
}

class RetryableError extends Error {
  constructor(message, retryAfterMs) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

// Google's RetryInfo in an error body: {"error": {"details": [{"@type": ".../google.rpc.RetryInfo",
// "retryDelay": "1.5s"}]}}; null when the body names no wait.
function retryInfoMs(text) {
  try {
    for (const d of JSON.parse(text).error.details || []) {
      if (String(d["@type"]).endsWith("google.rpc.RetryInfo")) return parseFloat(d.retryDelay) * 1000;
    }
  } catch (e) {
    // not a JSON error body: no hint
  }
  return null;
}

async function send(req) {
  let res;
  try {
    res = await fetch(args.url + PATH, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: req.body,
    });
  } catch (e) {
    throw new RetryableError(String(e.cause || e), null);
  }
  const text = await res.text();
  if (res.status === 429 || res.status >= 500) {
    const after = Number(res.headers.get("retry-after"));
    throw new RetryableError(`HTTP ${res.status}`, after > 0 ? after * 1000 : retryInfoMs(text));
  }
  const doc = JSON.parse(text);
  const answer = doc.candidates[0].content.parts[0].text;
  return answer.split("\n").find((l) => l.trim()) || "";
}

requestLimiter.on("failed", (error, jobInfo) => {
  if (!(error instanceof RetryableError) || jobInfo.retryCount >= MAX_RETRIES) return undefined;
  if (error.retryAfterMs !== null) return error.retryAfterMs;
  return Math.random() * 1000 * 2 ** jobInfo.retryCount;
});

function schedule(req) {
  const job = () => requestLimiter.schedule(() => send(req));
  return tokenLimiter ? tokenLimiter.schedule({ weight: req.tokens }, job) : job();
}

async function main() {
  const answers = await Promise.all(requests.map((req) =>
    schedule(req).then((a) => a.replace(/\n/g, " "), (e) => `error: ${e.message}`)));
  const out = requests.map((req, i) => `${req.id}\t${answers[i]}\n`).join("");
  fs.writeFileSync(args.out, out);
}

main();
