--- The statistics of one run (the README's "Statistics"), from our own counts and the engine's.
-- @module coursegen.runstats
local M = {}

local type, pairs, tostring = type, pairs, tostring

--- A fresh statistics table.
-- @tparam integer total chapters in the course
-- @treturn table
function M.new(total)
  return {
    chapters = { total = total or 0, written = 0, skipped = 0, failed = 0 },
    requests = 0, cache_requests = 0, batch_requests = 0, retries = 0, status = {}, network_errors = 0,
    empty_answers = 0, blocked_answers = 0, truncated_answers = 0,
    tokens = { prompt = 0, output = 0, thoughts = 0, cached = 0 },
    elapsed_s = 0, limiter_wait_s = 0, max_in_flight = 0,
  }
end

--- Counts one attempt reported by the engine's `on_attempt`.
-- @tparam table st
-- @tparam table ev `{id, attempt, status, error, wait_s, retry}`
function M.attempt(st, ev)
  st.requests = st.requests + 1
  if (ev.attempt or 1) > 1 then st.retries = st.retries + 1 end
  local code = tonumber(ev.status)
  if code and code > 0 then
    local k = tostring(math.tointeger(code) or code)
    st.status[k] = (st.status[k] or 0) + 1
  elseif ev.error then
    st.network_errors = st.network_errors + 1
  end
end

--- Counts an answer's classification and token usage.
-- @tparam table st
-- @tparam table parsed from a provider's `parse`
function M.answer(st, parsed)
  local u = parsed.usage or {}
  st.tokens.prompt = st.tokens.prompt + (u.prompt or 0)
  st.tokens.output = st.tokens.output + (u.output or 0)
  st.tokens.thoughts = st.tokens.thoughts + (u.thoughts or 0)
  st.tokens.cached = st.tokens.cached + (u.cached or 0)
  local k = parsed.kind
  if k == "empty" or k == "blocked" or k == "truncated" then
    st[k .. "_answers"] = st[k .. "_answers"] + 1
  end
end

--- A copy of the statistics with the engine's own figures merged in.
-- The engine sees every attempt (including ones our hooks never hear about), so its
-- request, retry and status counts win when it has them.
-- @tparam table st
-- @tparam[opt] table es `eng:stats()`
-- @tparam number elapsed seconds since the run started
-- @treturn table
function M.snapshot(st, es, elapsed)
  local out = {}
  for k, v in pairs(st) do
    if type(v) == "table" then
      local c = {}
      for k2, v2 in pairs(v) do c[k2] = v2 end
      out[k] = c
    else
      out[k] = v
    end
  end
  out.elapsed_s = math.floor(elapsed * 1000 + 0.5) / 1000
  if type(es) == "table" then
    for _, k in ipairs { "requests", "retries", "network_errors", "max_in_flight", "in_flight" } do
      if type(es[k]) == "number" then out[k] = math.tointeger(es[k]) or es[k] end
    end
    if type(es.limiter_wait_s) == "number" then
      out.limiter_wait_s = math.floor(es.limiter_wait_s * 1000 + 0.5) / 1000
    end
    if type(es.status) == "table" and next(es.status) then
      local s = {}
      for code, n in pairs(es.status) do
        s[tostring(math.tointeger(code) or code)] = math.tointeger(n) or n
      end
      out.status = s
    end
  end
  return out
end

return M
