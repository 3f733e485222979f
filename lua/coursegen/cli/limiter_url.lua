--- Where the command line finds the shared limiter's URL, and how it shows it.
-- A URL may carry the Redis password, and a command line is visible to every user of the
-- machine (`ps`) and ends up in shell histories and in our own "run the same command
-- again" hint. So the URL can also come from a file (`--limiter-file`) or the
-- environment (`COURSEGEN_LIMITER`), and wherever the command line is shown again, the
-- password is masked.
-- @module coursegen.cli.limiter_url
local M = {}

local string_format, type, ipairs = string.format, type, ipairs

--- The environment variable that may hold the URL.
M.ENV = "COURSEGEN_LIMITER"

-- A URL is at most 1023 bytes (the engine's limit); a file holding one is small.
local MAX_FILE_BYTES = 4096

local function parse(v)
  return require("coursegen.core").redis_parse_url(v)
end

-- Checks a URL from `where`; the parser's messages never quote the password.
local function check(where, v)
  local ok, err = parse(v)
  if not ok then return nil, string_format("%s: %s", where, err) end
  return v
end

--- Reads the URL from a file: its first line, trimmed. Messages name the file, never
-- its content.
-- @tparam string path
-- @treturn string|nil the URL, or nil and a message
function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, string_format("--limiter-file: cannot read %s", err or path) end
  local data, rerr = f:read(MAX_FILE_BYTES + 1)
  f:close()
  if not data and rerr then return nil, string_format("--limiter-file: cannot read %s: %s", path, rerr) end
  data = data or ""
  if #data > MAX_FILE_BYTES then
    return nil, string_format("--limiter-file: %s is too large (a URL on its first line expected)", path)
  end
  local url = (data:match("^[^\n]*") or ""):match("^%s*(.-)%s*$")
  if url == "" then
    return nil, string_format("--limiter-file: %s is empty (put the redis:// URL on its first line)", path)
  end
  return check("--limiter-file " .. path, url)
end

--- The limiter URL of a run: `--limiter`, else `--limiter-file`, else `COURSEGEN_LIMITER`.
-- @tparam table args parsed command line (`limiter`, `limiter_file`)
-- @tparam[opt] function env getenv-like function
-- @treturn string|nil the URL (nil: no shared limiter), or nil and a message
function M.resolve(args, env)
  env = env or os.getenv
  if args.limiter and args.limiter_file then
    return nil, "use --limiter or --limiter-file, not both"
  end
  if args.limiter then return args.limiter end
  if args.limiter_file then return M.read_file(args.limiter_file) end
  local v = env(M.ENV)
  if v == nil or v == "" then return nil end
  return check(M.ENV, v)
end

--- Whether a URL carries a password (then it does not belong on a command line).
-- @tparam string url
-- @treturn boolean
function M.has_password(url)
  local u = type(url) == "string" and parse(url)
  return u and u.has_password or false
end

--- The URL with its password masked, for anything shown or written.
-- @tparam string url
-- @treturn string
function M.display(url)
  if type(url) ~= "string" then return url end
  local u = parse(url)
  if u then return u.display end
  -- not a URL the parser takes: mask whatever stands where a password would
  return (url:gsub("^(%a+://[^/@]*:)[^@/]*@", "%1***@"))
end

--- A copy of a command line with the limiter URL's password masked (`--limiter URL` and
-- `--limiter=URL`).
-- @tparam table argv
-- @treturn table
function M.mask_argv(argv)
  local out = {}
  local after_flag = false
  for i, a in ipairs(argv) do
    if after_flag then
      out[i] = M.display(a)
    elseif type(a) == "string" and a:sub(1, 10) == "--limiter=" then
      out[i] = "--limiter=" .. M.display(a:sub(11))
    else
      out[i] = a
    end
    after_flag = a == "--limiter"
  end
  return out
end

return M
