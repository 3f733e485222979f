--- Settles the options of a run from, in order of precedence: the command line, the
-- environment (`COURSEGEN_PROVIDER`, `COURSEGEN_MODEL`, `COURSEGEN_BASE_URL`,
-- `COURSEGEN_PRICE_IN`, `COURSEGEN_PRICE_OUT`), the course file's `options` object, and
-- the provider's defaults. Finds the API key.
-- @module coursegen.cli.settings
local M = { _VERSION = "0.1" }

local values = require "coursegen.cli.values"
local limits = require("coursegen.cli.options").limits

local string_format, type, pairs, pcall, require = string.format, type, pairs, pcall, require

--- Built-in defaults, used where a provider module does not say.
M.fallback = {
  gemini = {
    default_model = "gemini-2.5-flash",
    default_base_url = "https://generativelanguage.googleapis.com",
    default_limits = { rpm = 1000, tpm = 1000000, rpd = 10000 },
    key_env = { "GEMINI_API_KEY", "GOOGLE_API_KEY" },
    key_help = "your Gemini API key",
  },
  openai = {
    default_model = "gpt-4o-mini",
    default_base_url = "https://api.openai.com/v1",
    default_limits = { rpm = 500, tpm = 200000 },
    key_env = { "OPENAI_API_KEY" },
    key_help = "your OpenAI API key",
  },
}

--- Defaults that do not depend on the provider.
M.defaults = { concurrency = 8, max_attempts = 5, timeout = 600 }

--- Keys allowed in the course file's `options` object, with their checkers.
local file_keys = {
  out = function(name, v) return values.text(name, v) end,
  provider = function(name, v) return values.choice(name, v, { "gemini", "openai" }) end,
  model = function(name, v) return values.text(name, v) end,
  base_url = function(name, v) return values.url(name, v) end,
  api_key_env = function(name, v) return values.env_name(name, v) end,
  api_key_file = function(name, v) return values.text(name, v) end,
  ca_file = function(name, v) return values.text(name, v) end,
  concurrency = function(name, v) return values.integer(name, v, limits.concurrency[1], limits.concurrency[2]) end,
  rpm = function(name, v) return values.integer(name, v, limits.rpm[1], limits.rpm[2]) end,
  tpm = function(name, v) return values.integer(name, v, limits.tpm[1], limits.tpm[2]) end,
  rpd = function(name, v) return values.integer(name, v, limits.rpd[1], limits.rpd[2]) end,
  max_attempts = function(name, v)
    return values.integer(name, v, limits.max_attempts[1], limits.max_attempts[2])
  end,
  timeout = function(name, v) return values.number(name, v, limits.timeout[1], limits.timeout[2], true) end,
}
M.file_keys = file_keys

-- The file keys whose value is a number.
local NUMERIC_KEYS = { concurrency = true, rpm = true, tpm = true, rpd = true, max_attempts = true, timeout = true }

--- The provider's description: the provider module's fields over the built-in fallback.
-- @tparam string name "gemini" or "openai"
-- @treturn table `{ default_model, default_base_url, default_limits, key_env, key_help,
--   needs_key }`
function M.provider(name)
  local base = M.fallback[name] or M.fallback.gemini
  local info = {}
  for k, v in pairs(base) do info[k] = v end
  local ok, mod = pcall(require, "coursegen.providers." .. name)
  if ok and type(mod) == "table" then
    local d = type(mod.defaults) == "table" and mod.defaults or {}
    info.default_model = d.model or mod.default_model or info.default_model
    info.default_base_url = d.base_url or mod.default_base_url or info.default_base_url
    if d.rpm or d.tpm or d.rpd then
      info.default_limits = { rpm = d.rpm, tpm = d.tpm, rpd = d.rpd }
    elseif type(mod.default_limits) == "table" then
      info.default_limits = mod.default_limits
    end
    if type(d.key_env) == "table" and #d.key_env > 0 then info.key_env = d.key_env end
    if type(mod.needs_key) == "function" then info.needs_key = mod.needs_key end
  end
  return info
end

--- Checks a course file's `options` object.
-- @param opts the object (nil for none)
-- @tparam string file the course file, for messages
-- @treturn table|nil checked options, or nil and a message naming the file and field
function M.check_file_options(opts, file)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    return nil, string_format("%s: options must be an object", file)
  end
  local out = {}
  for k, v in pairs(opts) do
    local key = type(k) == "string" and k:gsub("-", "_") or k
    local check = file_keys[key]
    if not check then
      local names = {}
      for name in pairs(file_keys) do names[#names + 1] = name end
      table.sort(names)
      return nil, string_format("%s: unknown field options.%s (known: %s)", file, tostring(k),
        table.concat(names, ", "))
    end
    if type(v) ~= "string" and type(v) ~= "number" then
      -- the checkers read text; a table would otherwise be quoted as its address
      local what = type(v) == "table" and "an object or a list" or type(v)
      return nil, string_format("%s: options.%s must be a %s, got %s", file, key,
        NUMERIC_KEYS[key] and "number" or "string", what)
    end
    local val, err = check("options." .. key, v)
    if val == nil then return nil, file .. ": " .. err end
    out[key] = val
  end
  return out
end

local function from_env(env, var, check)
  local v = env(var)
  if v == nil or v == "" then return nil end
  local val, err = check(var, v)
  if val == nil then return nil, err end
  return val
end

--- Settles a run's options.
-- @tparam table args parsed command line (`coursegen.cli.options`)
-- @tparam[opt] table o `{ env = getenv-like function, file_options = checked table,
--   need_key = boolean }`
-- @treturn table|nil settings `{ provider, model, base_url, api_key, api_key_env,
--   concurrency, rpm, tpm, rpd, max_attempts, timeout, out, price_in, price_out, is_local }`,
--   or nil and a message
function M.resolve(args, o)
  o = o or {}
  local env = o.env or os.getenv
  local fo = o.file_options or {}
  local s = {}
  local err

  local env_provider
  env_provider, err = from_env(env, "COURSEGEN_PROVIDER",
    function(name, v) return values.choice(name, v, { "gemini", "openai" }) end)
  if err then return nil, err end
  s.provider = args.provider or env_provider or fo.provider or "gemini"
  local info = M.provider(s.provider)

  local env_model = from_env(env, "COURSEGEN_MODEL", values.text)
  s.model = args.model or env_model or fo.model or info.default_model

  local env_url
  env_url, err = from_env(env, "COURSEGEN_BASE_URL", values.url)
  if err then return nil, err end
  s.base_url = args.base_url or env_url or fo.base_url or info.default_base_url
  s.is_local = values.is_local(s.base_url)

  local dl = info.default_limits or {}
  for _, k in ipairs { "concurrency", "rpm", "tpm", "rpd", "max_attempts", "timeout" } do
    local v = args[k]
    if v == nil then v = fo[k] end
    if v == nil then v = dl[k] end
    if v == nil then v = M.defaults[k] end
    s[k] = v
  end
  -- a local server has no published quota: no client-side rate limits (0) unless asked
  if s.is_local and s.base_url ~= info.default_base_url then
    for _, k in ipairs { "rpm", "tpm", "rpd" } do
      if args[k] == nil and fo[k] == nil then s[k] = 0 end
    end
  end
  s.out = args.out or fo.out

  local pin, pout
  pin, err = from_env(env, "COURSEGEN_PRICE_IN",
    function(name, v) return values.number(name, v, limits.price[1], limits.price[2]) end)
  if err then return nil, err end
  pout, err = from_env(env, "COURSEGEN_PRICE_OUT",
    function(name, v) return values.number(name, v, limits.price[1], limits.price[2]) end)
  if err then return nil, err end
  s.price_in = args.price_in or pin
  s.price_out = args.price_out or pout

  s.api_key_env = args.api_key_env or fo.api_key_env
  s.api_key_file = args.api_key_file or env("COURSEGEN_API_KEY_FILE") or fo.api_key_file
  s.ca_file = args.ca_file or fo.ca_file
  s.limiter, err = require("coursegen.cli.limiter_url").resolve(args, env)
  if err then return nil, err end
  if s.ca_file then
    local f, ferr = io.open(s.ca_file, "rb")
    if not f then return nil, string_format("--ca-file: cannot read %s", ferr) end
    f:close()
  end
  if o.need_key ~= false then
    local key, kerr = M.api_key(s, info, env)
    if kerr then return nil, kerr end
    s.api_key = key
  end
  return s
end

--- Reads an API key from a file: its first line, trimmed. Messages name the file, never
-- its content.
-- @tparam string path
-- @treturn string|nil the key, or nil and a message
function M.read_key_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, string_format("--api-key-file: cannot read %s", err or path) end
  local line = f:read("l")
  f:close()
  local key = line and line:match("^%s*(.-)%s*$")
  if not key or key == "" then
    return nil, string_format("--api-key-file: %s is empty (put the key on its first line)", path)
  end
  return key
end

--- Finds the API key for settled options: from `--api-key-file`, else the environment.
-- @tparam table s settings (`provider`, `api_key_env`, `is_local`)
-- @tparam[opt] table info provider description (`M.provider`)
-- @tparam[opt] function env getenv-like function
-- @treturn string|nil the key; nil when none is needed (a local server); nil and a
--   message naming the variable to set when one is missing
function M.api_key(s, info, env)
  env = env or os.getenv
  info = info or M.provider(s.provider)
  if s.api_key_file then return M.read_key_file(s.api_key_file) end
  local vars = s.api_key_env and { s.api_key_env } or info.key_env
  local key = require("coursegen.settings").env_key(vars, env)
  if key then return key end
  if s.is_local then return nil end
  if info.needs_key and not s.api_key_env then
    local ok, needed = pcall(info.needs_key, s.base_url)
    if ok and needed == false then return nil end
  end
  if s.api_key_env then
    return nil, string_format("no API key: the variable %s (named by --api-key-env) is not set",
      s.api_key_env)
  end
  local names = vars[1]
  if #vars > 1 then names = names .. " (or " .. table.concat(vars, ", ", 2) .. ")" end
  return nil, string_format(
    "no API key for %s: set %s to %s, name another variable with --api-key-env, "
      .. "or give a file with --api-key-file",
    s.provider, names, info.key_help or "the API key")
end

return M
