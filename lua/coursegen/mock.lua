--- The bundled mock LLM server: a friendly front for `coursegen.mockserver`.
--
-- ```lua
-- local srv = mock.start{ rpm = 60, faults = "503:0.05", seed = 7 }
-- print(srv.url)        -- http://127.0.0.1:PORT
-- srv:stats(); srv:reset_stats(); srv:close()
-- ```
-- `start` raises on a bad option (`bad option 'x' ...`); `run` blocks until SIGINT or
-- SIGTERM and returns the signal's name; `parse_faults` raises on a bad spec.
--
-- Options: `port` (0 = a free one), `latency_ms` and `jitter_ms` (uniform extra),
-- `rpm`, `tpm`, `burst`, `window`, `faults`, `seed`, `api_key`, `answer_words` (default 300),
-- `batch_delay_ms` (a batch job's time to finish, default 300), `batch_inline_limit` (largest
-- inline batch request body in bytes, refused with 400 above it; default 20 MB, as Gemini's),
-- `cache_min_tokens` (smallest
-- cached content, default the model's documented minimum: 4096 for pro models, else 1024),
-- `implicit_cache` (1, the default: a request whose part before its last message repeats an
-- earlier one's, at least that minimum, reports that part as cached tokens; 0: never).
--
-- Rate limit: two token buckets refilled continuously at rate/60 per second. `burst` is
-- the request bucket's capacity (default one second's worth, at least 1); the token
-- bucket holds one second's worth of `tpm`. A request costs 1 request and its prompt
-- tokens plus the tokens of the answer it gets (after `maxOutputTokens` cuts it), which
-- the mock knows before answering. A request larger than the token bucket passes once
-- the bucket is full and leaves it in debt. A refused request costs nothing. `window`
-- (seconds) enforces `rpm` and `tpm` as a sliding window instead: at most rpm * window /
-- 60 requests (and tokens) admitted in any `window` seconds, no burst beyond that.
--
-- Stats (`srv:stats()` and `GET /stats`): `requests`, `status` (by status string),
-- `faults` (by name), `max_concurrent`, `in_flight`, `requests_last_minute`,
-- `connections` (open now), `connections_total`, `key_in_url` (requests with `?key=`),
-- `rate_limited`, `request_bytes` (request bodies received), `caches_created`,
-- `caches_renewed`, `caches_deleted`, `batches_created`, `batches_cancelled`,
-- `files_created`, `uploads_started` (Gemini resumable uploads begun), `files_downloaded`,
-- `tokens_admitted` (prompt and answer tokens of the requests the rate limit let through,
-- as the token limit counts them); `GET /stats` also lists `hinted_429`, `[arrival
-- number, wait ms]` for each injected 429 that names a wait. `/stats` requests themselves
-- are not counted.
local core = require "coursegen.mockserver"

local type, pairs, error, tostring, tointeger = type, pairs, error, tostring, math.tointeger

local M = {}

-- option name -> expected kind
local OPTIONS = {
  port = "port",
  latency_ms = "nonneg",
  jitter_ms = "nonneg",
  rpm = "nonneg",
  tpm = "nonneg",
  burst = "nonneg",
  window = "nonneg",
  faults = "faults",
  seed = "integer",
  api_key = "string",
  answer_words = "positive",
  batch_delay_ms = "nonneg",
  batch_inline_limit = "nonneg",
  cache_min_tokens = "nonneg",
  implicit_cache = "nonneg",
}

-- Level 4 skips bad, check and start/run so the message names the line that passed the
-- bad option; a level that stopped short would blame this file instead.
local function bad(name, msg)
  error(("bad option '%s' (%s)"):format(name, msg), 4)
end

-- `fname` is the public function (start or run) so the message names what was called.
local function check(opts, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(opts)), 3)
  end
  local out = {}
  for k, v in pairs(opts) do
    local kind = OPTIONS[k]
    if not kind then bad(tostring(k), "unknown option") end
    if kind == "string" or kind == "faults" then
      if type(v) ~= "string" then bad(k, "string expected, got " .. type(v)) end
      if kind == "faults" then
        local ok, err = pcall(core.parse_faults, v)
        if not ok then bad(k, tostring(err)) end
      end
    else
      if type(v) ~= "number" then bad(k, "number expected, got " .. type(v)) end
      if v ~= v then bad(k, "not a number") end
      if kind == "port" and not (tointeger(v) and v >= 0 and v <= 65535) then
        bad(k, "integer between 0 and 65535 expected")
      elseif kind == "integer" and not tointeger(v) then
        bad(k, "integer expected")
      elseif kind == "nonneg" and v < 0 then
        bad(k, "must not be negative")
      elseif kind == "positive" and not (tointeger(v) and v >= 1) then
        bad(k, "positive integer expected")
      end
    end
    out[k] = v
  end
  return out
end

--- Starts a server on 127.0.0.1 in a background thread and returns its handle.
function M.start(opts)
  return core.start(check(opts, "start"))
end

--- Runs a server in the foreground for `coursegen mock`: prints
-- `listening on http://127.0.0.1:PORT` first, blocks until SIGINT or SIGTERM.
function M.run(opts)
  return core.run(check(opts, "run"))
end

--- Parses a `--faults` spec ("503:0.05,reset:0.01") into `{ {name=, probability=, ms=}, ... }`.
-- Raises `bad fault 'x' in --faults: ...` for a bad spec.
function M.parse_faults(spec)
  if type(spec) ~= "string" then
    error("bad argument #1 to 'parse_faults' (string expected, got " .. type(spec) .. ")", 2)
  end
  local ok, res = pcall(core.parse_faults, spec)
  if not ok then
    error((tostring(res):gsub("^(bad fault '[^']*')", "%1 in --faults")), 2)
  end
  return res
end

return M
