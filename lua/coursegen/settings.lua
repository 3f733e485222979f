--- Options of `generate` and `plan`: checked, defaults filled in, provider resolved.
-- The caller's table is never modified; unknown keys are rejected by name.
-- @module coursegen.settings
local fail = require "coursegen.fail"
local slug = require "coursegen.slug"

local M = { _VERSION = "0.1.0" }

local type, format, mtype = type, string.format, math.type

--- Known providers.
M.PROVIDERS = { gemini = "coursegen.providers.gemini", openai = "coursegen.providers.openai" }

--- Default output budget of one chapter, in tokens.
M.DEFAULT_MAX_OUTPUT = 8192

--- Largest output budget a truncated answer is re-asked with.
M.MAX_OUTPUT_CAP = 65536

--- Default number of chapters when a course names none.
M.DEFAULT_CHAPTERS = 10

local SPEC = {
  out = "string", provider = "string", model = "string", base_url = "string", api_key = "string",
  concurrency = "count", rpm = "number", tpm = "number", rpd = "number", max_attempts = "count",
  timeout = "number", force = "boolean", only = "table", temperature = "number",
  max_output_tokens = "count", thinking_budget = "integer", on_event = "function", hooks = "table",
  catch_signals = "boolean", source_max_tokens = "count", backoff_base = "number",
  backoff_cap = "number", retry_budget = "number", connect_timeout = "number", env = "table",
  limiter = "limiter", ca_file = "file",
  -- caching and batch mode (coursegen.cache, coursegen.batch)
  cache = "boolean", cache_ttl = "number", batch = "boolean", batch_cancel = "boolean",
  batch_poll_s = "number",
}

local function bad(field, fmt, ...)
  fail.raise("input", "option %s: " .. fmt, field, ...)
end

local function check_value(k, v, want)
  if want == "count" then
    if mtype(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) or v < 1 then
      bad(k, "expected a whole number of at least 1, got %s", tostring(v))
    end
    return math.tointeger(v)
  elseif want == "integer" then
    if type(v) ~= "number" or v ~= math.floor(v) then bad(k, "expected a whole number, got %s", tostring(v)) end
    return math.tointeger(v)
  elseif want == "number" then
    if type(v) ~= "number" or v < 0 then bad(k, "expected a number of at least 0, got %s", tostring(v)) end
    return v
  end
  if want == "limiter" then
    -- Checked here, so a typo is an input error before anything is sent; the engine
    -- connects when the run starts.
    if type(v) ~= "string" then bad(k, "expected a redis:// URL, got %s", type(v)) end
    local ok, err = require("coursegen.core").redis_parse_url(v)
    if not ok then bad(k, "%s", err) end
    return v
  end
  if want == "file" then
    if type(v) ~= "string" then bad(k, "expected a file path, got %s", type(v)) end
    local f, err = io.open(v, "rb")
    if not f then bad(k, "cannot read %s", tostring(err)) end
    f:close()
    return v
  end
  if type(v) ~= want then bad(k, "expected a %s, got %s", want, type(v)) end
  return v
end

local function check_hooks(h)
  for k, v in pairs(h) do
    if k == "prompt" or k == "postprocess" then
      if type(v) ~= "function" then bad("hooks." .. k, "expected a function, got %s", type(v)) end
    elseif k == "stages" then
      if type(v) ~= "table" then bad("hooks.stages", "expected a list, got %s", type(v)) end
      local names = {}
      for i, st in ipairs(v) do
        local f = format("hooks.stages[%d]", i)
        if type(st) ~= "table" then bad(f, "expected a table, got %s", type(st)) end
        if type(st.name) ~= "string" or not st.name:match("^[%w_-]+$") then
          bad(f .. ".name", "expected a name of letters, digits, '-' or '_'")
        end
        if names[st.name] then bad(f .. ".name", "duplicate stage %q", st.name) end
        names[st.name] = true
        if type(st.prompt) ~= "function" then bad(f .. ".prompt", "expected a function, got %s", type(st.prompt)) end
        if st.file ~= nil and type(st.file) ~= "function" then
          bad(f .. ".file", "expected a function, got %s", type(st.file))
        end
      end
    else
      bad("hooks", "unknown hook %q (known: prompt, postprocess, stages)", tostring(k))
    end
  end
end

--- Checks `opts` and returns a fresh settings table.
-- @tparam table course the validated course (for the default output folder)
-- @tparam[opt] table opts
-- @treturn table settings: every option, plus `provider_mod`, `key_needed`
function M.resolve(course, opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail.raise("input", "options: expected a table, got %s", type(opts)) end
  local s = {}
  for k, v in pairs(opts) do
    local want = SPEC[k]
    if not want then fail.raise("input", "unknown option %q", tostring(k)) end
    s[k] = check_value(k, v, want)
  end
  s.provider = s.provider or "gemini"
  local modname = M.PROVIDERS[s.provider]
  if not modname then bad("provider", "unknown provider %q (known: gemini, openai)", s.provider) end
  local p = require(modname)
  s.provider_mod = p
  s.model = s.model or p.defaults.model
  s.base_url = (s.base_url or p.defaults.base_url):gsub("/+$", "")
  if not s.base_url:match("^https?://") then
    bad("base_url", "expected an http:// or https:// URL, got %q", s.base_url)
  end
  -- Limits: explicit options win; the provider's published defaults otherwise.
  for _, k in ipairs { "rpm", "tpm", "rpd" } do
    if s[k] == nil then s[k] = p.defaults[k] end
  end
  s.concurrency = s.concurrency or 8
  s.max_attempts = s.max_attempts or 5
  s.max_output_tokens = s.max_output_tokens or M.DEFAULT_MAX_OUTPUT
  s.source_max_tokens = s.source_max_tokens or 200000
  if s.only then
    local set = {}
    for i, v in ipairs(s.only) do
      if mtype(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) or v < 1 then
        bad("only", "entry %d: expected a chapter number, got %s", i, tostring(v))
      end
      set[math.tointeger(v)] = true
    end
    s.only = set
  end
  s.hooks = s.hooks or {}
  check_hooks(s.hooks)
  s.out = s.out or ("out/" .. slug.slug(course.title, "course"))
  s.out = s.out:gsub("/+$", "")
  if s.out == "" then s.out = "/" end
  s.key_needed = p.needs_key(s.base_url)
  if not s.api_key then
    s.api_key = M.env_key(p.defaults.key_env, s.env and function(n) return s.env[n] end)
  end
  return s
end

--- The API key held by the first of `names` that is set, trimmed. A key pasted or echoed
-- into a variable often ends in a newline, which must never reach an HTTP header; a blank
-- variable counts as unset. The command line uses this lookup too.
-- @tparam {string,...} names variable names, in order of preference
-- @tparam[opt] function getenv `os.getenv`-like lookup (default `os.getenv`)
-- @treturn ?string the key, or nil when none of the variables holds one
-- @treturn ?string the name of the variable it came from
function M.env_key(names, getenv)
  getenv = getenv or os.getenv
  for _, name in ipairs(names) do
    local v = getenv(name)
    if type(v) == "string" and v:match("%S") then
      return (v:gsub("^%s+", ""):gsub("%s+$", "")), name
    end
  end
  return nil
end

--- Raises an "auth" failure when the provider needs a key and none was found.
-- @tparam table s settings from `resolve`
function M.require_key(s)
  if s.key_needed and not s.api_key then
    local names = s.provider_mod.defaults.key_env
    fail.raise("auth", "%s: no API key: set %s%s, or pass api_key", s.provider, names[1],
      names[2] and (" (or " .. names[2] .. ")") or "")
  end
end

return M
