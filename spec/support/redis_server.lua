-- A throwaway redis-server for specs: a free loopback port, no persistence, its own
-- folder. The unix socket in that folder proves the server that answers is ours (on a
-- port clash redis-server exits, and a PING through the socket fails).
local helpers = require "helpers"

local M = {}

-- Kept for specs that reach them through this module; they live in helpers.
M.sleep, M.alive = helpers.sleep, helpers.alive

local function sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return out
end

function M.available()
  return os.execute("command -v redis-server >/dev/null 2>&1") == true
end

--- Starts a server; returns `{ port, pid, dir, sock, url = function(key) }`.
-- @tparam[opt] table opts `{ password = "...", args = { "--maxclients", "10" } }`: a
--   password is required of clients (`--requirepass`, and the readiness PING sends it);
--   `args` are further server arguments
function M.start(opts)
  opts = opts or {}
  assert(M.available(), "redis-server is needed")
  local dir = opts.dir or helpers.tmpdir()
  local sock = dir .. "/redis.sock"
  local extra, auth = {}, ""
  for _, a in ipairs(opts.args or {}) do extra[#extra + 1] = "'" .. a:gsub("'", "'\\''") .. "'" end
  if opts.password then
    extra[#extra + 1] = "--requirepass '" .. opts.password .. "'"
    auth = "--no-auth-warning -a '" .. opts.password .. "' "
  end
  for _ = 1, opts.port and 1 or 20 do
    local port = opts.port or math.random(20000, 60000)
    local pid = sh(string.format(
      "redis-server --port %d --bind 127.0.0.1 --unixsocket '%s' --save '' --appendonly no " ..
      "--dir '%s' --daemonize no %s >'%s/log' 2>&1 & echo $!", port, sock, dir, table.concat(extra, " "), dir))
      :match("%d+")
    for _ = 1, 100 do
      if os.execute(string.format("redis-cli -s '%s' %sping 2>/dev/null | grep -q PONG", sock, auth)) then
        return {
          port = port, pid = pid, dir = dir, sock = sock, opts = opts,
          url = function(key) return string.format("redis://127.0.0.1:%d/0?key=%s", port, key) end,
        }
      end
      if not M.alive(pid) then break end
      M.sleep(0.02)
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
  end
  error("could not start redis-server")
end

--- Stops the server (waits until it is gone); removes its folder unless `keep` is true.
-- A spec may have paused the server (SIGSTOP, to make it unresponsive): it is continued
-- first, or it would not act on the SIGTERM and the wait would run out.
function M.stop(srv, keep)
  if not srv then return end
  if not srv.stopped then
    srv.stopped = true
    os.execute("kill -CONT " .. srv.pid .. " 2>/dev/null; kill " .. srv.pid .. " 2>/dev/null")
    for _ = 1, 250 do
      if not M.alive(srv.pid) then break end
      M.sleep(0.02)
    end
  end
  if not keep then helpers.rmtree(srv.dir) end
end

--- Restarts a server on the same port, as an operator restarts a production Redis: it
-- saves its data on the way down and loads it on the way up (clients lose their
-- connections, not the data), `downtime` seconds later; returns the new server.
function M.restart(srv, downtime)
  M.cli(srv, "shutdown save")
  for _ = 1, 250 do
    if not M.alive(srv.pid) then break end
    M.sleep(0.02)
  end
  srv.stopped = true
  if downtime then M.sleep(downtime) end
  local opts = {}
  for k, v in pairs(srv.opts) do opts[k] = v end
  opts.port, opts.dir = srv.port, srv.dir
  return M.start(opts)
end

--- Runs redis-cli with `args` (a string) against the server; returns its output.
function M.cli(srv, args)
  return sh(string.format("redis-cli -s '%s' %s 2>&1", srv.sock, args))
end

--- Calls of a command ("evalsha") since the server started, from INFO commandstats.
function M.calls(srv, cmd)
  return tonumber(M.cli(srv, "info commandstats"):match("cmdstat_" .. cmd .. ":calls=(%d+)")) or 0
end

local keyn = 0
--- A key no earlier run used.
function M.fresh_key(prefix)
  keyn = keyn + 1
  return string.format("%s%d_%d_%d", prefix or "spec", os.time(), math.random(1, 1e6), keyn)
end

--- Stores the limits of the key in `url` before a fleet starts (its processes use the
-- key's), with the request burst scaled like a sliding-window enforcer's short window: a
-- provider's per-minute window is 12 times the specs' 5 s, and the limiter's 2% of slack
-- covers the engine's half second of burst only at that scale. Where tokens bind, the
-- request bucket stays full, and whenever tokens come free that burst goes out on top
-- of the rate.
function M.scaled_key(url, rpm, tpm, rpd)
  local core = require "coursegen.core"
  local l = assert(core.redis_limiter(url, { rpm = rpm, tpm = tpm, rpd = rpd, burst_requests = 1 }))
  assert(l:store_limits())
  l:close()
end

return M
