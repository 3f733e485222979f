--- The one owner of a run's settings: defaults, providers and their defaults, the limits of
-- every value, validation, where the API key comes from and where it may go. `generate`
-- and `plan` settle their options here; the command line only layers its sources (flags,
-- environment, user config, course file) into the same options table and calls `resolve`.
-- The caller's table is never modified; unknown keys are rejected by name.
-- @module coursegen.settings
local fail = require "coursegen.fail"
local slug = require "coursegen.slug"

local M = {}

local type, format, mtype, tostring, tonumber = type, string.format, math.type, tostring, tonumber

--- Known providers: name → module. `ollama` speaks the `openai` dialect with Ollama's
-- address and a local model.
M.PROVIDERS = {
  gemini = "coursegen.providers.gemini",
  openai = "coursegen.providers.openai",
  ollama = "coursegen.providers.ollama",
}

--- Provider names, in the order help texts list them.
M.PROVIDER_NAMES = { "gemini", "openai", "ollama" }

--- Defaults that do not depend on the provider (the provider's own are in its `defaults`).
M.DEFAULTS = {
  provider = "gemini",
  concurrency = 8,
  max_attempts = 5,
  timeout = 1200,           -- seconds per attempt (see LOCAL_TIMEOUT for this machine's servers)
  max_output_tokens = 8192, -- output budget of one request
  source_max_tokens = 200000,
  chapters = 10,            -- when a course names no number of chapters
}

--- Seconds per attempt for a server on this machine (llama.cpp, Ollama, vLLM on loopback).
-- An answer is not streamed, so nothing arrives until the model has written all of it, and
-- the attempt's timeout is also its limit on silence: it must outlast the slowest model a
-- user runs. A remote API (`DEFAULTS.timeout`, 20 min) covers Gemini 2.5 Pro thinking and
-- writing the largest re-asked chapter (65,536 output tokens) at some 55 tokens/s; a 7-8B
-- model on a few CPU cores writes 3 to 6 tokens/s, so one 8,192-token chapter can take
-- 23 to 45 min. A request cut at its timeout is paid for and asked again, while a timeout
-- too long only costs time when a server hangs, hence the generous values.
M.LOCAL_TIMEOUT = 3600

--- Default output budget of one chapter, in tokens.
M.DEFAULT_MAX_OUTPUT = M.DEFAULTS.max_output_tokens

--- Largest output budget a truncated answer is re-asked with.
M.MAX_OUTPUT_CAP = 65536

--- The output budget a truncated answer is asked again with: twice `n`, at most `cap`.
-- @tparam ?number n the budget it was cut at (default `DEFAULT_MAX_OUTPUT`)
-- @tparam[opt] number cap default `MAX_OUTPUT_CAP`
-- @treturn number
function M.larger_output(n, cap)
  return math.min((n or M.DEFAULT_MAX_OUTPUT) * 2, cap or M.MAX_OUTPUT_CAP)
end

--- Default number of chapters when a course names none.
M.DEFAULT_CHAPTERS = M.DEFAULTS.chapters

--- Bounds of the numeric settings, `{min, max}`: the command line checks its flags, the
-- user config and course files against the same numbers.
M.LIMITS = {
  chapters = { 1, 500 },
  concurrency = { 1, 1024 },
  rpm = { 1, 10000000 },
  tpm = { 1, 1000000000 },
  rpd = { 1, 100000000 },
  max_attempts = { 1, 100 },
  timeout = { 0, 86400, open = true }, -- seconds, greater than 0
  temperature = { 0, 2 },
  price = { 0, 100000 },               -- USD per million tokens
}

--- Settings only the user may choose, never a course file: where the key is read from and
-- where it (and the course) is sent. Value: the flag that sets it.
M.USER_ONLY = {
  base_url = "--base-url", api_key_env = "--api-key-env", api_key_file = "--api-key-file",
  ca_file = "--ca-file", limiter = "--limiter",
}

-- Option → what it must be. Ranges come from `M.LIMITS` where a key is there.
local SPEC = {
  out = "string", provider = "provider", model = "string", base_url = "url", api_key = "string",
  api_key_env = "env_name", api_key_file = "string",
  concurrency = "count", rpm = "number", tpm = "number", rpd = "number", max_attempts = "count",
  timeout = "number", force = "boolean", only = "table", temperature = "number",
  max_output_tokens = "count", thinking_budget = "integer", on_event = "function", hooks = "table",
  catch_signals = "boolean", source_max_tokens = "count", backoff_base = "number",
  backoff_cap = "number", retry_budget = "number", connect_timeout = "number", env = "env",
  limiter = "limiter", ca_file = "file", no_backup = "boolean", inputs = "table",
  -- caching and batch mode (coursegen.cache, coursegen.batch)
  cache = "boolean", cache_ttl = "number", batch = "boolean", batch_cancel = "boolean",
  batch_poll_s = "number", batch_inline_bytes = "count",
}

local function bad(field, fmt, ...)
  fail.raise("input", "option %s: " .. fmt, field, ...)
end

local function whole(v)
  return mtype(v) == "integer" or (type(v) == "number" and v == math.floor(v) and v > -2^53 and v < 2^53)
end

-- The upper bound of `M.LIMITS`; below, the library keeps its own rule (a count from 1, a
-- number from 0), since 0 means "no limit" for rpm, tpm and rpd here.
local function in_range(k, v)
  local lim = M.LIMITS[k]
  if lim and v > lim[2] then bad(k, "expected at most %s, got %s", lim[2], tostring(v)) end
end

local function check_value(k, v, want)
  if want == "count" then
    if not whole(v) or v < 1 then bad(k, "expected a whole number of at least 1, got %s", tostring(v)) end
    in_range(k, v)
    return math.tointeger(v)
  elseif want == "integer" then
    if not whole(v) then bad(k, "expected a whole number, got %s", tostring(v)) end
    return math.tointeger(v)
  elseif want == "number" then
    if type(v) ~= "number" or v ~= v or v < 0 then bad(k, "expected a number of at least 0, got %s", tostring(v)) end
    in_range(k, v)
    return v
  elseif want == "provider" then
    if not M.PROVIDERS[v] then
      bad(k, "unknown provider %q (known: %s)", tostring(v), table.concat(M.PROVIDER_NAMES, ", "))
    end
    return v
  elseif want == "url" then
    if type(v) ~= "string" or not v:match("^[hH][tT][tT][pP][sS]?://[^/%s]+") or v:find("%s") then
      bad(k, "expected an http:// or https:// URL, got %q", tostring(v))
    end
    return (v:gsub("/+$", ""))
  elseif want == "env_name" then
    if type(v) ~= "string" or not v:match("^[%a_][%w_]*$") then
      bad(k, "expected the name of an environment variable, got %q", tostring(v))
    end
    return v
  elseif want == "env" then
    if type(v) ~= "table" and type(v) ~= "function" then
      bad(k, "expected a table of variables or a getenv-like function, got %s", type(v))
    end
    return v
  elseif want == "limiter" then
    -- Checked here, so a typo is an input error before anything is sent; the engine
    -- connects when the run starts.
    if type(v) ~= "string" then bad(k, "expected a redis:// URL, got %s", type(v)) end
    local ok, err = require("coursegen.core").redis_parse_url(v)
    if not ok then bad(k, "%s", err) end
    return v
  elseif want == "file" then
    -- The only place that opens it before the engine does (the engine reads it to trust it).
    if type(v) ~= "string" then bad(k, "expected a file path, got %s", type(v)) end
    local f, err = io.open(v, "rb")
    if not f then fail.raise("input", "--ca-file: cannot read %s", tostring(err)) end
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

--- The host of a URL, lower-case, without brackets, user-info or port.
-- @tparam string url
-- @treturn ?string
-- @treturn ?integer the port, when the URL names one
function M.host(url)
  if type(url) ~= "string" then return nil end
  local authority = url:match("^%a[%w+.-]*://([^/?#]*)")
  if not authority then return nil end
  -- user-info ends at the last '@': "http://127.0.0.1:80@evil.example" goes to evil.example
  authority = authority:match("^.*@(.*)$") or authority
  local host, port = authority:match("^%[([^%]]*)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  if not host or host == "" then return nil end
  return host:lower(), tonumber(port)
end

--- Whether a URL points at this machine (localhost, 127.x.x.x, ::1), where a server needs
-- no key, has no published quota, and plain http:// is safe.
-- @tparam string url
-- @treturn boolean
function M.is_loopback(url)
  local host = M.host(url)
  if not host then return false end
  return host == "localhost" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil or host == "::1"
    or host == "0.0.0.0"
end

--- The provider a base URL names by itself, when no provider was chosen: Google's host is
-- Gemini, Ollama's port 11434 is Ollama, OpenAI's host or a path ending in `/v1` is the
-- OpenAI dialect (llama.cpp, vLLM, LM Studio...). Nil when the URL does not say.
-- @tparam ?string url
-- @treturn ?string
function M.infer_provider(url)
  if type(url) ~= "string" then return nil end
  local host, port = M.host(url)
  host = host or ""
  local path = url:match("^%a+://[^/]+(/.*)$") or ""
  if host == "googleapis.com" or host:sub(-15) == ".googleapis.com" then return "gemini" end
  if port == 11434 then return "ollama" end
  if host == "api.openai.com" or path:match("/v1/*$") then return "openai" end
  return nil
end

--- The provider's module.
-- @tparam string name a key of `PROVIDERS`
-- @treturn table the module (`defaults`, `request`, `parse`, ...)
function M.provider(name)
  local modname = M.PROVIDERS[name]
  if not modname then
    bad("provider", "unknown provider %q (known: %s)", tostring(name), table.concat(M.PROVIDER_NAMES, ", "))
  end
  return require(modname)
end

--- The base URL the environment gives a provider, as its vendor's own SDK reads it:
-- `OPENAI_BASE_URL` for `openai`.
-- @tparam string provider
-- @tparam[opt] function getenv `os.getenv`-like lookup
-- @treturn ?string
-- @treturn ?string the variable's name
function M.env_base_url(provider, getenv)
  local p = M.provider(provider)
  local name = p.defaults.base_url_env
  local v = name and (getenv or os.getenv)(name)
  if type(v) == "string" and v:match("%S") then return v, name end
  return nil
end

--- The lookup of environment variables a run uses: its `env` option (a table, or a
-- function like `os.getenv`), else the process's environment.
-- @tparam table s options or settings
-- @treturn function
function M.getenv(s)
  local env = s.env
  if type(env) == "function" then return env end
  if type(env) == "table" then return function(n) return env[n] end end
  return os.getenv
end

--- Metatable of settled settings: `coursegen.generate` and `plan` take them as they are.
M.settings_mt = { __name = "coursegen.settings" }

--- Checks `opts` and returns a fresh settings table.
-- @tparam table course the validated course (for the default output folder)
-- @tparam[opt] table opts
-- @treturn table settings: every option, plus `provider_mod`, `key_needed`, `loopback`
function M.resolve(course, opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail.raise("input", "options: expected a table, got %s", type(opts)) end
  local s = {}
  for k, v in pairs(opts) do
    local want = SPEC[k]
    if not want then fail.raise("input", "unknown option %q", tostring(k)) end
    s[k] = check_value(k, v, want)
  end
  local getenv = M.getenv(s)
  s.provider = s.provider or M.infer_provider(s.base_url) or M.DEFAULTS.provider
  local p = M.provider(s.provider)
  s.provider_mod = p
  s.model = s.model or p.defaults.model
  if not s.base_url then
    local from_env = M.env_base_url(s.provider, getenv)
    s.base_url = from_env and check_value(p.defaults.base_url_env, from_env, "url") or p.defaults.base_url
  end
  s.loopback = M.is_loopback(s.base_url)
  -- Limits: explicit options win; the provider's published ones otherwise, except for a
  -- server on this machine other than the provider's own, which has no published quota.
  local custom_local = s.loopback and s.base_url ~= p.defaults.base_url
  for _, k in ipairs { "rpm", "tpm", "rpd" } do
    if s[k] == nil and not custom_local then s[k] = p.defaults[k] end
  end
  for _, k in ipairs { "concurrency", "max_attempts", "timeout", "max_output_tokens", "source_max_tokens" } do
    if s[k] == nil then s[k] = k == "timeout" and s.loopback and M.LOCAL_TIMEOUT or M.DEFAULTS[k] end
  end
  if s.only then
    local set = {}
    for i, v in ipairs(s.only) do
      if not whole(v) or v < 1 then
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
  return setmetatable(s, M.settings_mt)
end

--- The settings the request engine takes, by the same names (`coursegen.core.engine`).
M.ENGINE_KEYS = { "concurrency", "rpm", "tpm", "rpd", "max_attempts", "timeout", "backoff_base", "backoff_cap",
                  "retry_budget", "connect_timeout", "limiter", "ca_file" }

--- The engine's options for settled settings.
-- @tparam table s settings from `resolve`
-- @treturn table a fresh table of the `ENGINE_KEYS` that are set
function M.engine_options(s)
  local opts = {}
  for _, k in ipairs(M.ENGINE_KEYS) do opts[k] = s[k] end
  return opts
end

--- The API key held by the first of `names` that is set, trimmed. A key pasted or echoed
-- into a variable often ends in a newline, which must never reach an HTTP header; a blank
-- variable counts as unset.
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

--- Largest key file read: a key is one line; `/dev/zero` must not fill memory.
M.MAX_KEY_FILE_BYTES = 64 * 1024

--- Reads an API key from a file: its first line, trimmed. Messages name the file, never
-- its content.
-- @tparam string path
-- @treturn string|nil the key, or nil and a message
function M.read_key_file(path)
  local mode = require("lfs").attributes(path, "mode")
  if mode and mode ~= "file" and mode ~= "char device" and mode ~= "named pipe" then
    return nil, format("--api-key-file: cannot read %s: it is a %s, not a file", path, mode)
  end
  local f, err = io.open(path, "rb")
  if not f then return nil, format("--api-key-file: cannot read %s", err or path) end
  local head = f:read(M.MAX_KEY_FILE_BYTES)
  f:close()
  local line = head and head:match("^[^\n]*")
  local key = line and line:match("^%s*(.-)%s*$")
  if not key or key == "" then
    return nil, format("--api-key-file: %s is empty (put the key on its first line)", path)
  end
  return key
end

local function missing_key(s, names)
  local list = names[1]
  if #names > 1 then list = list .. " (or " .. table.concat(names, ", ", 2) .. ")" end
  fail.raise("auth", "no API key for %s: set %s to %s, name another variable with --api-key-env, "
    .. "or give a file with --api-key-file", s.provider, list, s.provider_mod.defaults.key_help or "the API key")
end

--- Finds the API key a run sends and checks where it would go; stores it in `s.api_key`
-- and where it came from in `s.key_source`. In order: `api_key`, `api_key_file`, the
-- variable `api_key_env`, the provider's variables. A key is never sent over plain http://
-- to another machine: one the user named is refused (an "input" failure), one found in the
-- provider's usual variables is left out (it was not meant for that server).
-- Raises "auth" when the server needs a key and none is found, or a named one is missing.
-- @tparam table s settings from `resolve`
-- @treturn table `s`
function M.attach_key(s)
  if s.key_attached then return s end -- settled once: a second call must not relabel the key
  local getenv = M.getenv(s)
  local key, from, named = s.api_key, "api_key", true
  if not key and s.api_key_file then
    local err
    key, err = M.read_key_file(s.api_key_file)
    if not key then fail.raise("auth", "%s", err) end
    from = s.api_key_file
  elseif not key and s.api_key_env then
    key = M.env_key({ s.api_key_env }, getenv)
    if not key then
      fail.raise("auth", "no API key: the variable %s (named by --api-key-env) is not set", s.api_key_env)
    end
    from = s.api_key_env
  elseif not key then
    key, from = M.env_key(s.provider_mod.defaults.key_env, getenv)
    named = false
  end
  if key and not key:match("^[\33-\126]+$") then
    -- a header value: a newline would start another header, a NUL or a byte past ASCII is no key
    -- (/dev/zero as a key file); the message never quotes it
    fail.raise("auth", "the API key from %s is not a key: it must be printable ASCII without spaces", from)
  end
  if key and s.base_url:match("^[hH][tT][tT][pP]://") and not s.loopback then
    if named then
      fail.raise("input", "will not send the API key (from %s) over plain http:// to %s, where anyone on "
        .. "the way can read it: use an https:// URL, or a server on this machine", from, M.host(s.base_url))
    end
    key, from = nil, nil
  end
  if not key and s.key_needed then missing_key(s, s.provider_mod.defaults.key_env) end
  s.api_key, s.key_source, s.key_attached = key, from, true
  return s
end

return M
