-- Simulated clients on one shared-limiter key, for the herd spec and `make bench`: `n`
-- limiter handles in this process, taking turns, each leasing one request at a time as
-- fast as the key allows. A waiting client asks its handle again every 20 ms: the handle
-- answers locally until its wait ends or a message on its channel says a place opened.
local helpers = require "helpers"
local redis = require "support.redis_server"
local core = require "coursegen.core"

local M = {}

--- Redis's own count of limiter script calls (INFO commandstats: EVALSHA and EVAL).
function M.calls(srv)
  return redis.calls(srv, "evalsha") + redis.calls(srv, "eval")
end

--- Runs `n` clients on a fresh key of `srv` at `rpm`; after `warm` seconds (every client
-- has joined and the line has formed) counts Redis's calls for `secs` more.
-- @return `{ clients, rate, calls_per_s, per_request, queued, wakeups, least, most }`
--   (`least`, `most`: the fewest and most grants a client got while counted)
function M.run(srv, n, secs, rpm, warm)
  local url = srv.url(redis.fresh_key("herd"))
  local ls, next_at, got = {}, {}, {}
  for i = 1, n do
    ls[i] = assert(core.redis_limiter(url, { rpm = rpm }))
    next_at[i], got[i] = 0, 0
  end
  local before, t0, granted
  local start = core.now()
  while not t0 or core.now() - t0 < secs do
    if not t0 and core.now() - start >= warm then
      before, t0, granted = M.calls(srv), core.now(), 0
      for i = 1, n do got[i] = 0 end
    end
    local soonest = math.huge
    for i = 1, n do
      if core.now() >= next_at[i] then
        local ok, wait = ls[i]:lease(1, 0)
        if ok then
          granted, got[i] = (granted or 0) + 1, got[i] + 1
        else
          next_at[i] = core.now() + math.min(wait, 0.02)
        end
      end
      soonest = math.min(soonest, next_at[i])
    end
    local d = soonest - core.now()
    if d > 0 then helpers.sleep(math.min(d, 0.005)) end
  end
  local span = core.now() - t0
  local c = M.calls(srv) - before
  local queued, wakeups = 0, 0
  for i = 1, n do
    local s = ls[i]:stats()
    queued, wakeups = queued + s.queued, wakeups + s.wakeups
    ls[i]:close()
  end
  return { clients = n, rate = granted / span, calls_per_s = c / span, per_request = c / math.max(granted, 1),
           queued = queued, wakeups = wakeups, least = math.min(table.unpack(got)),
           most = math.max(table.unpack(got)) }
end

return M
