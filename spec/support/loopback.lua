-- Small HTTP servers for the specs, each run as its own process (so a server that blocks
-- cannot block the spec): the port handshake, the accept loop and reading one request,
-- shared by the servers in this folder, and `start` for the spec that runs one.
local M = {}

--- Server side: binds a loopback port the system chooses and publishes it in `port_file`,
-- which appears whole or not at all.
-- @treturn the listening LuaSocket server (0.2 s accept timeout)
function M.listen(port_file)
  local socket = require "socket"
  local server = assert(socket.bind("127.0.0.1", 0, 64))
  server:settimeout(0.2)
  local _, port = server:getsockname()
  local f = assert(io.open(port_file .. ".part", "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(port_file .. ".part", port_file))
  return server
end

--- Spec side: waits (5 s at most) for a server process to publish its port in `port_file`.
-- @treturn integer the port; raises "WHAT did not start" otherwise
function M.wait_port(port_file, what)
  local helpers = require "helpers"
  for _ = 1, 250 do
    local port = tonumber(helpers.readfile(port_file))
    if port then return port end
    helpers.sleep(0.02)
  end
  error((what or "the server") .. " did not start")
end

--- Server side: listens (`listen`), and calls `handle(conn, head_lines, body)` for each
-- request, until `max_requests` were served or `max_seconds` passed.
function M.serve(port_file, max_requests, max_seconds, handle)
  local socket = require "socket"
  local server = M.listen(port_file)
  local deadline = socket.gettime() + max_seconds
  local served = 0
  while served < max_requests and socket.gettime() < deadline do
    local c = server:accept()
    if c then
      c:settimeout(2)
      local head, length = {}, 0
      while #head < 100 do
        local line = c:receive("*l")
        if not line or line == "" then break end
        head[#head + 1] = line
        local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
        if n then length = tonumber(n) end
      end
      local body = length > 0 and c:receive(math.min(length, 1024 * 1024)) or ""
      served = served + 1
      handle(c, head, body, served)
      c:close()
    end
  end
  server:close()
end

--- Spec side: starts `spec/support/<script>.lua ARGS...` in the background with its port
-- file in `dir`; returns its base URL, or nil when LuaSocket is missing.
function M.start(dir, script, ...)
  if not pcall(require, "socket") then return nil end
  local helpers = require "helpers"
  local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
  local port_file = dir .. "/" .. script .. ".port"
  os.remove(port_file)
  local args = { q(port_file) }
  for _, a in ipairs { ... } do args[#args + 1] = q(a) end
  assert(os.execute(("cd %s && lua5.4 -e \"package.path='lua/?.lua;lua/?/init.lua;spec/?.lua;'..package.path\" "
    .. "spec/support/%s.lua %s >/dev/null 2>&1 &"):format(q(helpers.root), script, table.concat(args, " "))))
  return "http://127.0.0.1:" .. M.wait_port(port_file, script)
end

return M
