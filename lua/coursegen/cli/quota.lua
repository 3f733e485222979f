--- `coursegen quota`: a shared limiter key's limits, levels and the processes sharing it;
-- `--set rpm=N,tpm=N,rpd=N` changes the limits for every process on the key.
-- Exit codes: 0 shown (and set), 1 Redis unreachable or failed, 2 usage.
-- @module coursegen.cli.quota
local M = {}

local limiter_url = require "coursegen.cli.limiter_url"
local values = require "coursegen.cli.values"

local string_format, tonumber, ipairs, math_type = string.format, tonumber, ipairs, math.type

local SETTABLE = { rpm = true, tpm = true, rpd = true }

--- Adds the command to the parser.
-- @param parser the lua-argparse parser
-- @return the command
function M.add_command(parser)
  local cmd = parser:command("quota",
    "Show a shared limiter key's limits, levels and the processes sharing it; --set changes them.")
    :usage("Usage: coursegen quota [KEY] [--limiter URL | --limiter-file FILE] [--set rpm=N,tpm=N,rpd=N]")
  cmd:argument("KEY", "The key to show (default: the one in the limiter URL)."):args("?"):target("key")
  cmd:option("--limiter", "The Redis URL: redis://HOST:PORT/DB?key=NAME (or set COURSEGEN_LIMITER).")
    :argname("URL"):convert(function(s) return values.limiter("--limiter", s) end)
  cmd:option("--limiter-file", "Read the URL from this file's first line.")
    :argname("FILE"):convert(function(s) return values.text("--limiter-file", s) end)
  cmd:option("--set", "New limits for everyone on the key, e.g. rpm=1000,tpm=1000000 (0 = none).")
    :argname("LIMITS"):convert(function(s) return values.text("--set", s) end)
  return cmd
end

--- Parses `--set`: comma-separated `NAME=N` with NAME one of rpm, tpm, rpd.
-- @tparam string s
-- @treturn table|nil `{ rpm = N, ... }`, or nil and a message
function M.parse_set(s)
  local out, any = {}, false
  for item in (s .. ","):gmatch("([^,]*),") do
    local name, v = item:match("^%s*(%a+)%s*=%s*(%d+)%s*$")
    local n = v and tonumber(v)
    if not name or not SETTABLE[name] or math_type(n) ~= "integer" then
      return nil, string_format("--set: expected NAME=N with NAME rpm, tpm or rpd, got '%s'", item)
    end
    if out[name] then return nil, string_format("--set: %s given twice", name) end
    out[name], any = n, true
  end
  if not any then return nil, "--set: nothing to set" end
  return out
end

-- The URL with its key replaced by `key` (checked by the URL parser afterwards).
local function with_key(url, key)
  return (url:gsub("([?&]key=)[^&]*", function(k) return k .. key:gsub("%%", "%%25") end, 1))
end

local function num(v)
  if v == nil or v < 0 then return "-" end
  if v == math.floor(v) and v < 1e15 then return string_format("%d", v) end
  return string_format("%.1f", v)
end

--- The lines that describe the key.
-- @tparam string display the URL, password masked
-- @tparam table st `lim:state()`
-- @treturn table lines
function M.lines(display, st)
  local lines = { "key: " .. display }
  if (st.rpm or 0) <= 0 and (st.tpm or 0) <= 0 and (st.rpd or 0) <= 0 then
    lines[#lines + 1] = "limits: none stored (the next process on the key stores its own)"
  else
    local function limit(v) return (v or 0) > 0 and num(v) or "none" end
    lines[#lines + 1] = string_format("limits: rpm %s, tpm %s, rpd %s", limit(st.rpm), limit(st.tpm), limit(st.rpd))
    lines[#lines + 1] = string_format("levels: requests %s, tokens %s, day %s (negative: leased ahead)",
      num(st.requests ~= -1 and st.requests or nil), num(st.tokens ~= -1 and st.tokens or nil),
      num(st.day ~= -1 and st.day or nil))
    lines[#lines + 1] = string_format("leased out: %s requests, %s tokens", num(st.out_requests), num(st.out_tokens))
  end
  if (st.paused or 0) > 0 then
    lines[#lines + 1] = string_format("paused: %.1f s more (a 429 somewhere)", st.paused)
  end
  lines[#lines + 1] = string_format("processes sharing it (last minute): %d", #st.clients)
  for _, c in ipairs(st.clients) do lines[#lines + 1] = "  " .. c end
  return lines
end

--- Runs the command.
-- @tparam table args parsed command line
-- @tparam table ctx `{ stdout, stderr, env }`
-- @treturn integer|nil exit code, or nil, a message and an exit code
function M.run(args, ctx)
  local url, err = limiter_url.resolve(args, ctx.env)
  if err then return nil, err, 2 end
  if not url then
    return nil, "quota: name the key's Redis with --limiter URL, --limiter-file FILE or COURSEGEN_LIMITER", 2
  end
  if args.key then
    url, err = values.limiter("KEY", with_key(url, args.key))
    if not url then return nil, err, 2 end
  end
  local set
  if args.set then
    set, err = M.parse_set(args.set)
    if not set then return nil, err, 2 end
  end
  local core = require "coursegen.core"
  local lim, lerr = core.redis_limiter(url, { peek = true })
  if not lim then return nil, lerr, 1 end
  local st, serr = lim:state()
  if st and set then
    local new = { rpm = st.rpm, tpm = st.tpm, rpd = st.rpd }
    for k, v in pairs(set) do new[k] = v end
    -- bursts keep their length in time (the engine stores half a second's worth)
    local function scaled(burst, old, now)
      if old and old > 0 and burst and burst > 0 and now > 0 then return burst * now / old end
      return nil
    end
    new.burst_requests = scaled(st.burst_requests, st.rpm, new.rpm)
    new.burst_tokens = scaled(st.burst_tokens, st.tpm, new.tpm)
    lim:set_limits(new)
    local ok, e = lim:store_limits()
    if ok then st, serr = lim:state() else st, serr = nil, e end
  end
  lim:close()
  if not st then return nil, serr, 1 end
  ctx.stdout:write(table.concat(M.lines(limiter_url.display(url), st), "\n"), "\n")
  return 0
end

return M
