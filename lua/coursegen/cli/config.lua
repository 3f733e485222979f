--- The user config file: the run settings a person keeps per machine (provider, model,
-- base URL, key variable or key file, CA file, limiter, limits). JSON, so reading it runs
-- no code. It lives at `$COURSEGEN_CONFIG`, else `$XDG_CONFIG_HOME/coursegen/config.json`,
-- else `~/.config/coursegen/config.json`; a missing file is no config. Unlike a course
-- file it may say where the key is read from and sent: it is the user's own. File paths
-- in it may start with `~/`; relative ones are beside the config file.
-- @module coursegen.cli.config
local M = {}

local json = require "coursegen.json"
local settings = require "coursegen.cli.settings"

local string_format = string.format

--- Largest config file read, in bytes.
M.MAX_BYTES = 1024 * 1024

--- Where the user config file is.
-- @tparam[opt] function env getenv-like lookup
-- @treturn ?string the path (nil when neither a variable nor a home folder says)
-- @treturn boolean whether the path was named explicitly (`COURSEGEN_CONFIG`): then it must exist
function M.path(env)
  env = env or os.getenv
  local named = env("COURSEGEN_CONFIG")
  if named and named ~= "" then return named, true end
  local base = env("XDG_CONFIG_HOME")
  if not base or base == "" or base:sub(1, 1) ~= "/" then
    local home = env("HOME")
    if not home or home == "" then return nil, false end
    base = home .. "/.config"
  end
  return base .. "/coursegen/config.json", false
end

--- Reads and checks the user config file.
-- @tparam[opt] function env getenv-like lookup
-- @treturn table|nil checked settings (empty without a file), or nil and a message naming the file
-- @treturn[opt] string the file read
function M.load(env)
  local path, named = M.path(env)
  if not path then return {} end
  local f, err = io.open(path, "rb")
  if not f then
    if named or not err:find("No such file", 1, true) then
      return nil, string_format("user config: cannot read %s", err)
    end
    return {}
  end
  local text, rerr = f:read(M.MAX_BYTES + 1)
  f:close()
  if text == nil and rerr then return nil, string_format("%s: cannot read: %s", path, rerr) end
  text = text or ""
  if #text > M.MAX_BYTES then
    return nil, string_format("%s: too large for a config file (more than %d KiB)", path, M.MAX_BYTES // 1024)
  end
  local v, jerr = json.decode(text)
  if v == nil then return nil, string_format("%s: invalid JSON: %s", path, jerr or "empty document") end
  if type(v) ~= "table" or getmetatable(v) == json.array_mt then
    return nil, string_format("%s: expected a JSON object at the top level", path)
  end
  local checked, cerr = settings.check_object(v, path, "config")
  if not checked then return nil, cerr end
  for _, k in ipairs(M.PATHS) do
    if checked[k] then checked[k] = M.expand(checked[k], path, env) end
  end
  return checked, path
end

--- The fields that name files.
M.PATHS = { "api_key_file", "ca_file" }

--- A file named in the config: `~/` is the home folder, a relative path is beside the
-- config file (not wherever the command happens to run).
-- @tparam string p
-- @tparam string config_path
-- @tparam[opt] function env getenv-like lookup
-- @treturn string
function M.expand(p, config_path, env)
  local home = (env or os.getenv)("HOME")
  if p:sub(1, 2) == "~/" and home and home ~= "" then return home .. p:sub(2) end
  if p:sub(1, 1) == "/" then return p end
  return (config_path:match("^(.*)/[^/]*$") or ".") .. "/" .. p
end

return M
