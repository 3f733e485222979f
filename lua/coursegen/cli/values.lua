--- Checks and converts the values of command-line options, environment variables and the
-- course file's `options` object. Every checker returns the converted value, or nil and a
-- message that names the option, says what is expected and quotes what was given.
-- @module coursegen.cli.values
local M = {}

local tonumber, tostring, type = tonumber, tostring, type
local math_floor, math_type = math.floor, math.type
local string_format = string.format

local function quote(v)
  local s = tostring(v)
  if #s > 40 then s = s:sub(1, 37) .. "..." end
  return "'" .. s .. "'"
end

local function fmt_num(n)
  if math_type(n) == "integer" then
    -- 1000000 reads better as 1,000,000
    local s = tostring(n)
    local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
    return (out:gsub("^,", ""))
  end
  return string_format("%g", n)
end

--- Converts `v` (string or number) into an integer within [min, max].
-- @tparam string name the option as the user wrote it, e.g. `--concurrency`
-- @param v the value
-- @tparam integer min
-- @tparam integer max
-- @treturn integer|nil value, or nil and a message
function M.integer(name, v, min, max)
  local n
  if type(v) == "number" then
    if v == math_floor(v) and v > -2^53 and v < 2^53 then n = math_floor(v) end
  elseif type(v) == "string" then
    local digits = v:match("^%s*(%-?%d+)%s*$")
    if digits then
      if #digits > 15 then
        return nil, string_format("%s must be at most %s, got %s", name, fmt_num(max), quote(v))
      end
      n = tonumber(digits)
    end
  end
  if not n then
    return nil, string_format("%s must be a whole number from %s to %s, got %s",
      name, fmt_num(min), fmt_num(max), quote(v))
  end
  if n < min then
    return nil, string_format("%s must be at least %s, got %s", name, fmt_num(min), quote(v))
  end
  if n > max then
    return nil, string_format("%s must be at most %s, got %s", name, fmt_num(max), quote(v))
  end
  return n
end

--- Converts `v` into a finite number within [min, max]; `min_open` excludes `min` itself.
-- @tparam string name
-- @param v string or number
-- @tparam number min
-- @tparam number max
-- @tparam[opt] boolean min_open
-- @treturn number|nil value, or nil and a message
function M.number(name, v, min, max, min_open)
  local n
  if type(v) == "number" then n = v
  elseif type(v) == "string" and v:match("^%s*[%d%.%-+eE]+%s*$") then n = tonumber(v) end
  if not n or n ~= n or n == math.huge or n == -math.huge then
    return nil, string_format("%s must be a number, got %s", name, quote(v))
  end
  if (min_open and n <= min) or n < min then
    local what = min_open and "greater than" or "at least"
    return nil, string_format("%s must be %s %s, got %s", name, what, fmt_num(min), quote(v))
  end
  if n > max then
    return nil, string_format("%s must be at most %s, got %s", name, fmt_num(max), quote(v))
  end
  return n
end

--- Parses a chapter list such as `3,7` or `2-5,9` into a sorted list of distinct numbers.
-- @tparam string name
-- @param v string (or a list of numbers, from a course file)
-- @tparam[opt=10000] integer max
-- @treturn table|nil list of integers, or nil and a message
function M.list(name, v, max)
  max = max or 10000
  local seen, out = {}, {}
  local function add(n)
    if not seen[n] then seen[n] = true; out[#out + 1] = n end
  end
  if type(v) == "table" then
    for _, x in ipairs(v) do
      local n, err = M.integer(name, x, 1, max)
      if not n then return nil, err end
      add(n)
    end
  elseif type(v) == "string" and v:match("%S") then
    for item in (v .. ","):gmatch("([^,]*),") do
      local a, b = item:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
      if a then
        local lo, err = M.integer(name, a, 1, max)
        if not lo then return nil, err end
        local hi, err2 = M.integer(name, b, 1, max)
        if not hi then return nil, err2 end
        if hi < lo then
          return nil, string_format("%s: the range %s runs backwards", name, quote(item))
        end
        for n = lo, hi do add(n) end
      else
        local n = item:match("^%s*(%d+)%s*$")
        if not n then
          return nil, string_format(
            "%s must be chapter numbers separated by commas, such as 3,7 or 2-5, got %s",
            name, quote(v))
        end
        local k, err = M.integer(name, n, 1, max)
        if not k then return nil, err end
        add(k)
      end
    end
  else
    return nil, string_format(
      "%s must be chapter numbers separated by commas, such as 3,7 or 2-5, got %s", name, quote(v))
  end
  table.sort(out)
  return out
end

--- Checks that `v` is one of `choices`.
-- @tparam string name
-- @param v
-- @tparam table choices list of strings
-- @treturn string|nil
function M.choice(name, v, choices)
  for _, c in ipairs(choices) do
    if v == c then return v end
  end
  return nil, string_format("%s must be one of %s, got %s", name,
    table.concat(choices, ", "), quote(v))
end

--- Checks a non-empty string without control characters.
-- @tparam string name
-- @param v
-- @treturn string|nil
function M.text(name, v)
  if type(v) ~= "string" or not v:match("%S") then
    return nil, string_format("%s must not be empty", name)
  end
  if v:find("[%z\1-\8\11-\31]") then
    return nil, string_format("%s must not contain control characters", name)
  end
  return v
end

--- Checks a base URL: http or https, with a host.
-- @tparam string name
-- @param v
-- @treturn string|nil the URL without a trailing slash
function M.url(name, v)
  if type(v) ~= "string" or not v:match("^[hH][tT][tT][pP][sS]?://[^/%s]+") or v:find("%s") then
    return nil, string_format("%s must be an http:// or https:// URL, got %s", name, quote(v))
  end
  return (v:gsub("/+$", ""))
end

--- Checks the URL of a shared limiter: `redis://[:PASSWORD@]HOST[:PORT][/DB]?key=NAME` or
-- `unix:///PATH?key=NAME`. The parser is the engine's own, so what passes here connects
-- the same way; its message never quotes the password.
-- @tparam string name
-- @param v
-- @treturn string|nil the URL, or nil and "NAME: bad limiter URL ..."
function M.limiter(name, v)
  if type(v) ~= "string" then
    return nil, string_format("%s must be a redis:// URL, got %s", name, quote(v))
  end
  local ok, err = require("coursegen.core").redis_parse_url(v)
  if not ok then return nil, string_format("%s: %s", name, err) end
  return v
end

--- Checks the name of an environment variable.
-- @tparam string name
-- @param v
-- @treturn string|nil
function M.env_name(name, v)
  if type(v) ~= "string" or not v:match("^[%a_][%w_]*$") then
    return nil, string_format("%s must be the name of an environment variable, such as MY_KEY, got %s",
      name, quote(v))
  end
  return v
end

return M
