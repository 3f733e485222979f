-- A TLS front for the mock in specs: socat terminates https with a throwaway self-signed
-- certificate (a private CA of one) and forwards each connection to the mock's port.
local helpers = require "helpers"

local M = {}

local function quiet(cmd) return os.execute(cmd .. " >/dev/null 2>&1") == true end

--- Whether socat and openssl are there to run one.
function M.available()
  return quiet("command -v socat") and quiet("command -v openssl") and quiet("command -v curl")
end

--- Starts a proxy to `port`; returns `{ url, port, pid, dir, ca_file }`.
function M.start(port)
  local dir = helpers.tmpdir()
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  assert(quiet(string.format("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s'", key, cert)),
    "openssl could not make a certificate")
  for _ = 1, 20 do
    local p = math.random(20000, 60000)
    local f = assert(io.popen(string.format("socat OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert='%s',"
      .. "key='%s',verify=0 TCP:127.0.0.1:%d >'%s/log' 2>&1 & echo $!", p, cert, key, port, dir)))
    local pid = f:read("a"):match("%d+")
    f:close()
    for _ = 1, 100 do
      if quiet(string.format("curl -sf --cacert '%s' https://127.0.0.1:%d/stats -o /dev/null", cert, p)) then
        return { url = "https://127.0.0.1:" .. p, port = p, pid = pid, dir = dir, ca_file = cert }
      end
      if not helpers.alive(pid) then break end
      helpers.sleep(0.02)
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
  end
  error("could not start socat")
end

function M.stop(proxy)
  if not proxy then return end
  os.execute("kill " .. proxy.pid .. " 2>/dev/null")
  helpers.rmtree(proxy.dir)
end

return M
