--- Course files: JSON, a Lua file returning a table, or a Markdown outline; and validation.
-- Every error names the file, then the field (or the line, for Markdown), so a user can fix
-- the file without guessing; all of it happens before any request is sent.
-- @module coursegen.course
local json = require "coursegen.json"
local files = require "coursegen.files"
local prompts = require "coursegen.prompts"

local M = { _VERSION = "0.1.0" }

local format, type, pairs, ipairs = string.format, type, pairs, ipairs
local mtype, concat, sort = math.type, table.concat, table.sort

--- Metatable of validated courses (what `validate` returns).
M.course_mt = { __name = "coursegen.course" }

--- Most chapters a course may have.
M.MAX_CHAPTERS = 500

local KEYS = {
  title = "string", description = "string", audience = "string", language = "string",
  source = "string", instructions = "string", chapters = true, prompts = "table",
  -- run settings (provider, limits, ...) read by the command line; checked there
  options = "table",
}

-- Errors raised inside carry this table so `load` can return them without a traceback.
local function fail(msg)
  error({ msg = msg }, 0)
end

local function typename(v)
  if mtype(v) == "float" then return "number" end
  return type(v)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  sort(ks)
  return ks
end

local function check_string(where, field, v, required)
  if v == nil then
    if required then fail(format("%s: %s: missing (required)", where, field)) end
    return nil
  end
  if type(v) ~= "string" then
    fail(format("%s: %s: expected a string, got %s", where, field, typename(v)))
  end
  local trimmed = v:match("^%s*(.-)%s*$")
  if required and trimmed == "" then fail(format("%s: %s: must not be empty", where, field)) end
  return trimmed
end

local function check_chapters(where, v)
  if type(v) == "number" then
    if v ~= math.floor(v) or v < 1 or v > M.MAX_CHAPTERS then
      fail(format("%s: chapters: must be a whole number from 1 to %d, got %s", where, M.MAX_CHAPTERS, tostring(v)))
    end
    return nil, math.tointeger(v)
  end
  if type(v) ~= "table" then
    fail(format("%s: chapters: expected a list or a number, got %s", where, typename(v)))
  end
  local n = #v
  for k in pairs(v) do
    if mtype(k) ~= "integer" or k < 1 or k > n then
      fail(format("%s: chapters: expected a list, found key %q", where, tostring(k)))
    end
  end
  if n == 0 then fail(format("%s: chapters: the list is empty", where)) end
  if n > M.MAX_CHAPTERS then
    fail(format("%s: chapters: %d chapters, at most %d", where, n, M.MAX_CHAPTERS))
  end
  local out, seen = {}, {}
  for i, ch in ipairs(v) do
    local field = format("chapters[%d]", i)
    local title, brief
    if type(ch) == "string" then
      title = ch
    elseif type(ch) == "table" then
      for _, k in ipairs(sorted_keys(ch)) do
        if k ~= "title" and k ~= "brief" then fail(format("%s: %s: unknown key %q", where, field, k)) end
      end
      title = ch.title
      brief = check_string(where, field .. ".brief", ch.brief)
    else
      fail(format("%s: %s: expected a string or an object, got %s", where, field, typename(ch)))
    end
    title = check_string(where, field .. ".title", title, true)
    local key = title:lower()
    if seen[key] then
      fail(format("%s: %s.title: duplicate of chapters[%d] (%q)", where, field, seen[key], title))
    end
    seen[key] = i
    out[i] = { title = title, brief = brief ~= "" and brief or nil }
  end
  return out, n
end

local function check_prompts(where, p)
  local out = {}
  for _, k in ipairs(sorted_keys(p)) do
    if not prompts.NAMES[k] then
      fail(format("%s: prompts: unknown template %q (known: chapter, context, outline, summary, system)", where, k))
    end
    local src = p[k]
    if type(src) ~= "string" then
      fail(format("%s: prompts.%s: expected a string, got %s", where, k, typename(src)))
    end
    out[k] = src
  end
  local ok, err = pcall(prompts.compile, out)
  if not ok then fail(format("%s: prompts: %s", where, err)) end
  return out, err
end

local function join(dir, p)
  if p:sub(1, 1) == "/" or not dir or dir == "" or dir == "." then return p end
  return dir .. "/" .. p
end

--- Validates a course table; raises `{msg = ...}` on the first problem.
-- @tparam table t the raw course
-- @tparam string where the name used in errors (the file, or "course")
-- @tparam[opt] string dir folder that a relative `source` is resolved against
-- @treturn table the validated course
function M.check(t, where, dir)
  if type(t) ~= "table" then fail(format("%s: expected an object, got %s", where, typename(t))) end
  for _, k in ipairs(sorted_keys(t)) do
    if not KEYS[k] then fail(format("%s: unknown key %q", where, k)) end
  end
  local c = { file = where ~= "course" and where or nil }
  c.title = check_string(where, "title", t.title, true)
  for _, k in ipairs { "description", "audience", "language", "instructions", "source" } do
    local v = check_string(where, k, t[k])
    if v ~= "" then c[k] = v end
  end
  if t.chapters ~= nil then
    c.chapters, c.chapter_count = check_chapters(where, t.chapters)
  end
  if t.prompts ~= nil then
    if type(t.prompts) ~= "table" then
      fail(format("%s: prompts: expected an object, got %s", where, typename(t.prompts)))
    end
    c.prompts, c.templates = check_prompts(where, t.prompts)
  else
    c.prompts, c.templates = {}, prompts.compile({})
  end
  if c.source then
    c.source = join(dir, c.source)
    if not files.exists(c.source) then
      fail(format("%s: source: file not found: %s", where, c.source))
    end
  end
  return setmetatable(c, M.course_mt)
end

--- Parses a Markdown outline: `# Title`, optional description text, then one chapter per
-- `-`/`*`/`1.` list item; indented lines under an item are its brief.
-- @tparam string text
-- @tparam string where file name for errors
-- @treturn table a raw course table (not yet validated)
function M.parse_markdown(text, where)
  local t = { chapters = {} }
  local desc, lines_of = {}, {}
  local current
  local ln = 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    ln = ln + 1
    local blank = line:match("^%s*$")
    if not t.title then
      if not blank then
        local title = line:match("^#%s+(.-)%s*#*%s*$")
        if not title or title == "" then
          fail(format("%s:%d: the outline must start with a \"# Title\" line", where, ln))
        end
        t.title = title
      end
    elseif not blank then
      local indent = #line:match("^[ \t]*")
      local item = line:match("^[-*+]%s+(.-)%s*$") or line:match("^%d+[.)]%s+(.-)%s*$")
        or line:match("^[-*+]%s*$") and "" or line:match("^%d+[.)]%s*$") and ""
      if indent == 0 and item then
        if item == "" then fail(format("%s:%d: chapter title is empty", where, ln)) end
        local key = item:lower()
        if lines_of[key] then
          fail(format("%s:%d: duplicate chapter %q (first on line %d)", where, ln, item, lines_of[key]))
        end
        lines_of[key] = ln
        current = { title = item }
        t.chapters[#t.chapters + 1] = current
      elseif current and indent > 0 then
        local piece = line:match("^%s*(.-)%s*$")
        current.brief = current.brief and (current.brief .. " " .. piece) or piece
      elseif not current and not line:match("^#") then
        desc[#desc + 1] = line:match("^%s*(.-)%s*$")
      else
        fail(format("%s:%d: expected a chapter as a list item (\"- Title\" or \"1. Title\")", where, ln))
      end
    end
  end
  if not t.title then fail(format("%s: the outline must start with a \"# Title\" line", where)) end
  if #desc > 0 then t.description = concat(desc, " ") end
  if #t.chapters == 0 then t.chapters = nil end
  return t
end

--- Largest course file read, in bytes: a course is a page of text, and a multi-gigabyte
-- file (or a device such as /dev/zero) must not be read into memory first.
M.MAX_FILE_BYTES = 16 * 1024 * 1024

--- What a Lua course file may spend while it runs: virtual machine instructions, and
-- memory (KiB) on top of what the process held before.
M.LUA_MAX_INSTRUCTIONS = 1000000
M.LUA_MAX_KB = 64 * 1024

-- The string methods a course file may call ("x"):upper() style. Strings share one
-- metatable, which the empty environment cannot hide; `rep` and `gsub` could build
-- gigabytes in a single instruction, before any hook runs, so they are left out.
local SAFE_STRING = {}
for _, k in ipairs { "byte", "char", "find", "format", "len", "lower", "match", "gmatch", "reverse", "sub",
                     "upper" } do
  SAFE_STRING[k] = string[k]
end

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then fail(format("%s: cannot read: %s", path, err)) end
  -- read one byte past the limit instead of trusting a size: /dev/zero and pipes have none
  local s, rerr = f:read(M.MAX_FILE_BYTES + 1)
  f:close()
  if s == nil and rerr then fail(format("%s: cannot read: %s", path, rerr)) end
  s = s or ""
  if #s > M.MAX_FILE_BYTES then
    fail(format("%s: file too large (more than %d MiB); a course file is a short description",
      path, M.MAX_FILE_BYTES // (1024 * 1024)))
  end
  return s
end

-- Runs a Lua course file's chunk with an instruction and memory budget. The empty
-- environment already denies every library, but `while true do end` or `s = s .. s` need
-- none: a hook on every instruction stops either with an error naming the line, instead of
-- hanging the command or exhausting memory (`s = s .. s` doubles in one instruction, so a
-- sparser hook would let it reach gigabytes). A course file runs a few thousand
-- instructions, so the cost is nothing. Hooks are per coroutine: the caller's is restored.
local function run_bounded(chunk, path)
  local used, base_kb = 0, collectgarbage("count")
  local function hook()
    used = used + 1
    local why
    if used > M.LUA_MAX_INSTRUCTIONS then
      why = format("runs too long (more than %d instructions)", M.LUA_MAX_INSTRUCTIONS)
    elseif collectgarbage("count") - base_kb > M.LUA_MAX_KB then
      collectgarbage() -- count live data only, not garbage awaiting collection
      if collectgarbage("count") - base_kb > M.LUA_MAX_KB then
        why = format("uses too much memory (more than %d MiB)", M.LUA_MAX_KB // 1024)
      end
    end
    if why then
      -- off first: the budget stays spent, and the hook must not fire again in the
      -- caller's instructions after pcall has returned
      debug.sethook()
      local info = debug.getinfo(2, "Sl")
      local line = info and info.source == "@" .. path and info.currentline or nil
      error(format("%s%s: %s; a course file only returns a table", path,
        line and line > 0 and (":" .. line) or "", why), 0)
    end
  end
  local old = table.pack(debug.gethook())
  local smt = getmetatable("")
  local string_index = smt.__index
  smt.__index = SAFE_STRING
  debug.sethook(hook, "", 1)
  local ok, v = pcall(chunk)
  debug.sethook(table.unpack(old, 1, old.n))
  smt.__index = string_index
  if not ok then
    -- "not enough memory" from one huge allocation, e.g. ("x"):rep(1e12)
    if v == "not enough memory" then v = path .. ": uses too much memory" end
    fail(tostring(v))
  end
  return v
end

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

--- Reads a course file into its raw table, not yet validated (by extension: .json, .lua,
-- .md/.markdown). A Lua file runs in an empty environment under `run_bounded`.
-- @tparam string path
-- @treturn table the raw course; raises `{msg = ...}` for a file that cannot be read
function M.read_raw(path)
  local ext = path:match("%.([%w]+)$")
  ext = ext and ext:lower()
  local raw
  if ext == "json" then
    local text = read(path)
    local v, err = json.decode(text)
    if v == nil then fail(format("%s: invalid JSON: %s", path, err or "empty document")) end
    if type(v) ~= "table" or getmetatable(v) == json.array_mt then
      fail(format("%s: expected a JSON object at the top level", path))
    end
    raw = v
  elseif ext == "lua" then
    local text = read(path)
    -- An empty environment: a course file describes data and gets no library access.
    local chunk, err = load(text, "@" .. path, "t", {})
    if not chunk then fail(err) end
    local v = run_bounded(chunk, path)
    if type(v) ~= "table" then fail(format("%s: the file must return a table, got %s", path, typename(v))) end
    raw = v
  elseif ext == "md" or ext == "markdown" then
    raw = M.parse_markdown(read(path), path)
  else
    fail(format("%s: unknown course file type (expected .json, .lua or .md)", path))
  end
  return raw
end

--- Loads and validates a course file (by extension: .json, .lua, .md/.markdown).
-- @tparam string path
-- @treturn table the validated course; raises `{msg = ...}` for a bad file
function M.load(path)
  return M.check(M.read_raw(path), path, dirname(path))
end

return M
