--- The request engine: a friendly front for `coursegen.core`'s engine.
--
-- `coursegen.core` does the work in C (I/O threads driving libcurl, token buckets,
-- retries, ordering). This module re-exports it and adds `map`, which streams any number
-- of requests through an engine with a bounded window, so memory stays flat however many
-- requests a script makes.
--
-- ```lua
-- local engine = require "coursegen.engine"
-- for r, req in engine.map({ concurrency = 64, rpm = 600 }, requests) do
--   print(r.id, r.status, r.error)
-- end
-- ```
--
-- **Engine** `core.engine(opts)` (also `engine.new`). Options; unknown keys raise
-- "unknown option 'k' for engine", bad values "bad option 'k' (...)":
-- `concurrency` (8) transfers in flight; `threads` I/O threads, each driving many
-- transfers (default one per 128 of concurrency, at most one per CPU and 8); `rpm`, `tpm`,
-- `rpd` (nil or 0: no limit); `burst_requests`, `burst_tokens` (default half a second's
-- worth of requests and one second's of tokens; a request may use up to a minute's tokens,
-- leaving debt); `aimd_decrease` (0.5), `aimd_increase` (0.05 of the rate per second),
-- `aimd_min` (1/16); `max_attempts` (5), `backoff_base` (1), `backoff_cap` (60),
-- `retry_budget` (300), `max_hint_wait` (120); `ca_file` (PEM CA certificates to trust
-- for https); `timeout` (600, per attempt),
-- `connect_timeout` (10), `idle_timeout` (the timeout; no byte for that long, counted from the start, so
-- it includes a model's thinking before its first byte), `max_response_bytes`
-- (32 MiB); `validate(result) -> ok, info`; `on_attempt(ev)`; `seed` (jitter RNG);
-- `limiter` ("redis://HOST:PORT/DB?key=NAME": the limits are shared through Redis with
-- every engine naming the key; see HACKING.md).
--
-- Methods: `eng:submit{url=, method=, headers=, body=, tokens=, max_attempts=} -> id`
-- (`headers` a list of "Name: value" or a map; `method` defaults to POST with a body, GET
-- without); `eng:next(timeout?)` (submission order) and `eng:poll(timeout?)` (completion
-- order) `-> result | nil | nil, "timeout" | nil, "interrupted"`; `eng:cancel(id) ->
-- boolean`; `eng:pending()`; `eng:set_limits{...}` (absent fields keep their values, 0
-- removes a limit); `eng:stats()`; `eng:close()` (also `__close`, `__gc`). A closed engine
-- raises "attempt to use a closed engine".
--
-- Results: `{id, status, body, headers = {["lower-case"] = value}, attempts, elapsed,
-- tokens_reserved, error, error_code, reason, callback_error}`. Error codes: "timeout",
-- "network", "http", "quota", "too_large", "budget", "rejected", "cancelled", "callback",
-- "limiter" (the shared limiter failed: nothing more is sent).
--
-- Stats: `requests` (attempts sent), `retries`, `status` (counts by "200", ...; "0" for
-- transport failures), `network_errors`, `limiter_wait_s`, `tokens_reserved`, `tokens_used`,
-- `in_flight`, `max_in_flight`, `queued`, `backoff`, `pending`, `completed`, `failed`,
-- `latency_ms = {p50, p90, p99, max}` (per attempt), `rate_factor`, `paused_until_s`,
-- `early_retries` and `pauses_lifted` (a lone fault's backoff or 429 pause cut short because
-- a request sent after it succeeded; see the README's "How retries and limits work");
-- with a `limiter`, `redis = {url, round_trips, grants, local_grants, waits, errors, ...,
-- round_trips_per_request}`.
--
-- Also from `coursegen.core`: `limiter`, `admission` (the engine's admission rule over a
-- limiter, driven by the caller's clock), `backoff`, `classify`, `hint`, `parse_duration`,
-- `parse_retry_after`, `catch_signals`, `interrupted`, `reset_interrupted`, `now`, `sleep`,
-- `cpu_time` (see the C sources for each one's contract).
local core = require "coursegen.core"

local type, error, pairs, setmetatable, pcall = type, error, pairs, setmetatable, pcall
local getmetatable, tostring, max, min = getmetatable, tostring, math.max, math.min

local M = {}

-- Seconds `map` waits on a held head before it looks whether the window should grow.
local GROW_SLICE = 0.05

--- Creates an engine (same as `core.engine`).
-- @tparam table opts engine options (see the module comment)
-- @return the engine; raises on a bad option
function M.new(opts)
  return core.engine(opts)
end

local function is_engine(x)
  local mt = getmetatable(x)
  return type(mt) == "table" and mt.__name == "coursegen.Engine"
end

--- Streams requests through an engine and yields results in submission order.
--
-- At most `window` requests are outstanding (submitted, not yet yielded) at any time, so
-- memory does not grow with the number of requests `source` produces.
--
-- @param eng_or_opts an engine, or an options table: the engine is then created here and
--   closed when the iteration ends (or fails)
-- @tparam function|table source an iterator returning request tables (nil at the end), or
--   an array of request tables
-- @tparam[opt] table|function opts `{window = n, timeout = s, on_stats = fn}` (window
--   default 32 x concurrency up to 1024, at least 4 x concurrency and 64: a request that
--   waits out a server's hinted time, a second or more, holds the head of the order, and
--   the others must go on being sent meanwhile. The default window doubles, up to 16
--   times its size, whenever the engine would otherwise sit idle behind a held head; a
--   window given here is kept as given. `on_stats(stats)` is called once with the
--   engine's final statistics, `eng:stats()`, when the requests are all done); a function
--   here is taken as `handler`
-- @tparam[opt] function handler if given, called as `handler(result, request, eng)` for
--   each result, and `map` returns the number of results and the final statistics
--   instead of an iterator
-- @return an iterator yielding `result, request, eng` (`eng:stats()` reads the live
--   statistics; plus a closing value: leaving the loop early closes an engine created
--   here); it raises "interrupted" after
--   SIGINT/SIGTERM (see `core.catch_signals`) and "timeout" when one result takes longer
--   than `opts.timeout`
function M.map(eng_or_opts, source, opts, handler)
  if type(opts) == "function" then opts, handler = nil, opts end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #3 to 'map' (table expected, got " .. type(opts) .. ")", 2)
  end
  for k in pairs(opts) do
    if k ~= "window" and k ~= "timeout" and k ~= "on_stats" then
      error("unknown option '" .. tostring(k) .. "' for map", 2)
    end
  end
  local eng, own
  if is_engine(eng_or_opts) then
    eng = eng_or_opts
  elseif type(eng_or_opts) == "table" then
    eng, own = core.engine(eng_or_opts), true
  else
    error("bad argument #1 to 'map' (engine or options table expected, got " .. type(eng_or_opts) .. ")", 2)
  end
  if type(source) == "table" then
    local list, i = source, 0
    source = function()
      i = i + 1
      return list[i]
    end
  elseif type(source) ~= "function" then
    error("bad argument #2 to 'map' (function or table expected, got " .. type(source) .. ")", 2)
  end
  local conc = type(eng_or_opts) == "table" and not is_engine(eng_or_opts) and eng_or_opts.concurrency or 8
  local window = opts.window or max(64, 4 * conc, min(32 * conc, 1024))
  if type(window) ~= "number" or window < 1 then error("bad option 'window' (expected a number >= 1)", 2) end
  local max_window = opts.window or 16 * window
  local timeout = opts.timeout
  local on_stats = opts.on_stats
  if on_stats ~= nil and type(on_stats) ~= "function" then error("bad option 'on_stats' (expected a function)", 2) end
  local reqs, exhausted = {}, false
  local final

  local function fill()
    while not exhausted and eng:pending() < window do
      local req = source()
      if req == nil then
        exhausted = true
      else
        reqs[eng:submit(req)] = req
      end
    end
  end

  -- Waits for the next result in order. While the window may still grow, it waits in
  -- short slices and grows the window when the head is held and the engine has capacity
  -- to spare: the answers behind the head are done and waiting, and nothing new is sent.
  local function next_result()
    if exhausted or window >= max_window then return eng:next(timeout) end
    local deadline = timeout and core.now() + timeout
    while true do
      local slice = deadline and min(GROW_SLICE, deadline - core.now()) or GROW_SLICE
      local r, err = eng:next(max(0, slice))
      if r or err ~= "timeout" or (deadline and core.now() >= deadline) then return r, err end
      local st = eng:stats()
      if not exhausted and window < max_window and st.in_flight + st.queued < conc then
        window = min(2 * window, max_window)
        fill()
      end
      if exhausted or window >= max_window then
        return eng:next(deadline and max(0, deadline - core.now()) or nil)
      end
    end
  end

  local function step()
    fill()
    local r, err = next_result()
    if r then
      local req = reqs[r.id]
      reqs[r.id] = nil
      return r, req, eng
    end
    if err then
      if own then eng:close() end
      error(err, 0)
    end
    final = eng:stats()
    if own then eng:close() end
    if on_stats then on_stats(final) end
    return nil
  end

  if handler then
    local n = 0
    local ok, err = pcall(function()
      while true do
        local r, req = step()
        if not r then return end
        n = n + 1
        handler(r, req, eng)
      end
    end)
    if own then eng:close() end
    if not ok then error(err, 0) end
    return n, final
  end
  -- The fourth value is closed by the generic for, so `break` closes an engine made here.
  return step, nil, nil, own and eng or nil
end

return setmetatable(M, { __index = core })
