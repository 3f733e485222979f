--- Layers a run's options from the command line's sources, first match wins: the flags,
-- the environment (`COURSEGEN_*`, and `OPENAI_BASE_URL` for the openai provider), the
-- user config file (`coursegen.cli.config`), the course file's `options` object. What is
-- left unset, and every check beyond a value's form, is `coursegen.settings`'s: this module
-- only gathers, names each value's source in messages, and keeps a course file from
-- choosing where the user's key is read from or sent (`settings.USER_ONLY`).
-- @module coursegen.cli.settings
local M = {}

local lib = require "coursegen.settings"
local values = require "coursegen.cli.values"
local fail = require "coursegen.fail"

local string_format, type, pairs, ipairs = string.format, type, pairs, ipairs

local function int(key)
  local lim = lib.LIMITS[key]
  return function(name, v) return values.integer(name, v, lim[1], lim[2]) end
end

local function num(key)
  local lim = lib.LIMITS[key]
  return function(name, v) return values.number(name, v, lim[1], lim[2], lim.open) end
end

local function provider(name, v)
  return values.choice(name, v, lib.PROVIDER_NAMES)
end

--- Every layered setting, in the order they are settled: `key` (the library's option),
-- `flag`, `env` (its variable, if any), `config` (the user config may set it), `course`
-- (a course file may set it), `check(name, value)`, `numeric`. A key the library does not
-- know (`price_in`, `price_out`) stays on the command line's side.
M.KEYS = {
  { key = "provider", flag = "--provider", env = "COURSEGEN_PROVIDER", config = true, course = true,
    check = provider },
  { key = "model", flag = "--model", env = "COURSEGEN_MODEL", config = true, course = true,
    check = values.text },
  { key = "base_url", flag = "--base-url", env = "COURSEGEN_BASE_URL", config = true, check = values.url },
  { key = "api_key_env", flag = "--api-key-env", config = true, check = values.env_name },
  { key = "api_key_file", flag = "--api-key-file", env = "COURSEGEN_API_KEY_FILE", config = true, check = values.text },
  { key = "ca_file", flag = "--ca-file", config = true, check = values.text },
  { key = "limiter", flag = "--limiter", env = "COURSEGEN_LIMITER", config = true, check = values.limiter },
  { key = "concurrency", flag = "--concurrency", config = true, course = true, check = int "concurrency",
    numeric = true },
  { key = "rpm", flag = "--rpm", config = true, course = true, check = int "rpm", numeric = true },
  { key = "tpm", flag = "--tpm", config = true, course = true, check = int "tpm", numeric = true },
  { key = "rpd", flag = "--rpd", config = true, course = true, check = int "rpd", numeric = true },
  { key = "max_attempts", flag = "--max-attempts", config = true, course = true, check = int "max_attempts",
    numeric = true },
  { key = "timeout", flag = "--timeout", config = true, course = true, check = num "timeout", numeric = true },
  { key = "temperature", flag = "--temperature", config = true, course = true, check = num "temperature",
    numeric = true },
  { key = "out", flag = "--out", course = true, check = values.text },
  { key = "price_in", flag = "--price-in", env = "COURSEGEN_PRICE_IN", check = num "price", numeric = true,
    cli_only = true },
  { key = "price_out", flag = "--price-out", env = "COURSEGEN_PRICE_OUT", check = num "price", numeric = true,
    cli_only = true },
  { key = "price_cached", flag = "--price-cached", env = "COURSEGEN_PRICE_CACHED", check = num "price",
    numeric = true, cli_only = true },
}

local BY_KEY = {}
for _, k in ipairs(M.KEYS) do BY_KEY[k.key] = k end

--- The variables the command line reads, with what each one sets (for `--help`).
-- @treturn {{string,string},...} `{ name, what }` pairs
function M.variables()
  local out = {}
  for _, k in ipairs(M.KEYS) do
    if k.env then out[#out + 1] = { k.env, "like " .. k.flag } end
  end
  out[#out + 1] = { "COURSEGEN_CONFIG", "the user config file (default $XDG_CONFIG_HOME/coursegen/config.json)" }
  return out
end

local function known(where)
  local names = {}
  for _, k in ipairs(M.KEYS) do
    if k[where] then names[#names + 1] = k.key end
  end
  table.sort(names)
  return table.concat(names, ", ")
end

--- Checks an object of settings from a file: the course file's `options` (`where` =
-- "course") or the user config (`where` = "config").
-- @param obj the decoded object (nil for none)
-- @tparam string file the file, for messages
-- @tparam string where "course" or "config"
-- @tparam[opt] string prefix before each field name in messages ("options." for a course file)
-- @treturn table|nil checked settings, or nil and a message naming the file and field
function M.check_object(obj, file, where, prefix)
  prefix = prefix or ""
  if obj == nil then return {} end
  if type(obj) ~= "table" then
    return nil, string_format("%s: %s must be an object", file, prefix ~= "" and prefix:sub(1, -2) or "the file")
  end
  local out = {}
  for k, v in pairs(obj) do
    local key = type(k) == "string" and k:gsub("-", "_") or k
    local spec = BY_KEY[key]
    if where == "course" and lib.USER_ONLY[key] then
      return nil, string_format("%s: %s%s is not allowed in a course file: where your API key is read "
        .. "from and sent is your choice, not a shared file's; pass %s on the command line, or set %s "
        .. "in your user config file", file, prefix, key, lib.USER_ONLY[key], key)
    end
    if not spec or not spec[where] then
      return nil, string_format("%s: unknown field %s%s (known: %s)", file, prefix, tostring(k), known(where))
    end
    if type(v) ~= "string" and type(v) ~= "number" then
      -- the checkers read text; a table would otherwise be quoted as its address
      local what = type(v) == "table" and "an object or a list" or type(v)
      return nil, string_format("%s: %s%s must be a %s, got %s", file, prefix, key,
        spec.numeric and "number" or "string", what)
    end
    local val, err = spec.check(prefix .. key, v)
    if val == nil then return nil, file .. ": " .. err end
    out[key] = val
  end
  return out
end

--- Checks a course file's `options` object.
-- @param opts the object (nil for none)
-- @tparam string file the course file, for messages
-- @treturn table|nil checked options, or nil and a message naming the file and field
function M.check_file_options(opts, file)
  return M.check_object(opts, file, "course", "options.")
end

local function from_env(env, spec, var)
  var = var or spec.env
  local v = var and env(var)
  if v == nil or v == "" then return nil end
  local val, err = spec.check(var, v)
  if val == nil then fail.raise("input", "%s", err) end
  return val
end

--- Layers the options of a run.
-- @tparam table args parsed command line (`coursegen.cli.options`)
-- @tparam[opt] table o `{ env = getenv-like function, file_options = checked course-file
--   options, config = checked user config }`
-- @treturn table|nil the library's options (for `coursegen.settings.resolve`) and the
--   command line's own (`price_in`, `price_out`), or nil and a message
-- @treturn[opt] table the command line's own settings
function M.layer(args, o)
  o = o or {}
  local env = o.env or os.getenv
  local fo, cfg = o.file_options or {}, o.config or {}
  local ok, opts, own = pcall(function()
    local lib_opts, cli_opts = {}, {}
    if args.limiter and args.limiter_file then fail.raise("input", "use --limiter or --limiter-file, not both") end
    local function pick(spec)
      local v = args[spec.key]
      if v == nil and spec.key == "limiter" and args.limiter_file then
        -- a file keeps the Redis password out of the command line (and of `ps`)
        local url, err = require("coursegen.cli.limiter_url").read_file(args.limiter_file)
        if not url then fail.raise("input", "%s", err) end
        v = url
      end
      if v == nil then v = from_env(env, spec) end
      if v == nil then v = cfg[spec.key] end
      if v == nil and spec.course then v = fo[spec.key] end
      return v
    end
    for _, spec in ipairs(M.KEYS) do
      local v = pick(spec)
      if spec.key == "base_url" and (args.base_url == nil and from_env(env, spec) == nil) then
        -- the vendor's own variable (OPENAI_BASE_URL) is environment: above the user config
        local name = lib_opts.provider or lib.infer_provider(v) or lib.DEFAULTS.provider
        local var = lib.provider(name).defaults.base_url_env
        v = from_env(env, spec, var) or v
      end
      if spec.cli_only then cli_opts[spec.key] = v else lib_opts[spec.key] = v end
    end
    return lib_opts, cli_opts
  end)
  if not ok then
    if fail.is(opts) then return nil, opts.msg end
    error(opts, 0)
  end
  return opts, own
end

--- Layers the options of a run and settles them with `coursegen.settings.resolve`; with
-- `need_key`, also finds the key and checks where it goes (`settings.attach_key`), so a
-- missing or misdirected key stops the command before anything is written.
-- @tparam table course the validated course
-- @tparam table args parsed command line
-- @tparam[opt] table o as for `layer` (the user config is read when `o.config` is nil),
--   plus `extra` (library options the command adds: `force`, `only`...) and `need_key`
-- @treturn table|nil settings (the library's, plus `price_in`, `price_out`), or nil and a message
function M.resolve(course, args, o)
  o = o or {}
  local cfg = o.config
  if cfg == nil then
    local err
    cfg, err = require("coursegen.cli.config").load(o.env)
    if not cfg then return nil, err end
  end
  local opts, own = M.layer(args, { env = o.env, file_options = o.file_options, config = cfg })
  if not opts then return nil, own end
  for k, v in pairs(o.extra or {}) do opts[k] = v end
  opts.env = opts.env or o.env
  local s, err = fail.protect(lib.resolve, course, opts)
  if not s then return nil, err end
  if o.need_key then
    local ok, kerr = fail.protect(lib.attach_key, s)
    if not ok then return nil, kerr end
  end
  for k, v in pairs(own) do s[k] = v end
  return s
end

return M
