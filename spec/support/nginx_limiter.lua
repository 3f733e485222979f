-- A real nginx `limit_req` in front of a fixed Gemini answer, for the specs that hold the
-- engine against a rate limiter nobody here wrote. `limit_req` runs in nginx's preaccess
-- phase, after `return`, so the limited location proxies to a second server block that
-- answers: no third-party module is needed. nginx's access log gives every request's time
-- (ms) and status.
local helpers = require "helpers"

local M = {}

M.BIN = "/usr/sbin/nginx"

local ANSWER = '{"candidates":[{"content":{"role":"model","parts":[{"text":"A chapter."}]},'
  .. '"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,'
  .. '"totalTokenCount":8}}'

local CONF = [[
daemon off;
master_process off;
worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/error.log warn;
events { worker_connections 1024; }
http {
  log_format t '$msec $status';
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  limit_req_zone "all" zone=all:1m rate=RATEr/s;
  limit_req_status 429;
  server {
    listen 127.0.0.1:PORT;
    access_log DIR/access.log t;
    location / {
      limit_req zone=all BURST;
      proxy_pass http://127.0.0.1:INNER;
    }
  }
  server {
    listen 127.0.0.1:INNER;
    access_log off;
    location / { default_type application/json; return 200 'ANSWER'; }
  }
}
]]

local function free_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

--- Whether nginx is installed (the test group of `.ci/deps.sh` installs it).
function M.available()
  local f = io.open(M.BIN, "r")
  if f then f:close() end
  return f ~= nil
end

--- Starts nginx in `dir` limiting every request to `rate`/s with `burst` (0: none,
-- `nodelay` otherwise, as API gateways configure it).
-- @treturn table { url = generateContent URL, log = function() -> { {t =, status =} },
--   stop = function() }
function M.start(dir, rate, burst)
  local port, inner = free_port(), free_port()
  local conf = CONF:gsub("[A-Z]+", {
    DIR = dir, PORT = tostring(port), INNER = tostring(inner), RATE = tostring(rate),
    BURST = burst > 0 and ("burst=%d nodelay"):format(burst) or "", ANSWER = ANSWER })
  helpers.writefile(dir .. "/nginx.conf", conf)
  assert(os.execute(("%s -p %s -c %s/nginx.conf >%s/stdout.log 2>&1 &"):format(M.BIN, dir, dir, dir)))
  local socket = require "socket"
  local up = false
  for _ = 1, 250 do
    local c = socket.connect("127.0.0.1", port)
    if c then
      c:close()
      up = true
      break
    end
    helpers.sleep(0.02)
  end
  if not up then error("nginx did not start: " .. (helpers.readfile(dir .. "/error.log") or "")) end
  local self = { url = ("http://127.0.0.1:%d/v1beta/models/m:generateContent"):format(port) }
  function self.log()
    local out = {}
    for line in (helpers.readfile(dir .. "/access.log") or ""):gmatch("[^\n]+") do
      local t, status = line:match("^(%S+) (%d+)$")
      out[#out + 1] = { t = tonumber(t), status = tonumber(status) }
    end
    return out
  end
  function self.stop()
    local pid = tonumber(helpers.readfile(dir .. "/nginx.pid") or "")
    if pid then os.execute("kill -QUIT " .. pid .. " 2>/dev/null") end
    for _ = 1, 100 do
      if not pid or not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      helpers.sleep(0.02)
    end
  end
  return self
end

return M
