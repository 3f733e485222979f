--- Course files: JSON, a Lua file returning a table, or a Markdown outline; and validation.
-- Every error names the file, then the field (or the line, for Markdown), so a user can fix
-- the file without guessing; all of it happens before any request is sent.
-- @module coursegen.course
local json = require "coursegen.json"
local lfs = require "lfs"
local prompts = require "coursegen.prompts"
local realpath = require "coursegen.realpath"
local sandbox = require "coursegen.course_sandbox"
local source = require "coursegen.source"
local title_mod = require "coursegen.title"

local M = {}

local format, type, pairs, ipairs = string.format, type, pairs, ipairs
local mtype, concat, sort = math.type, table.concat, table.sort

--- Metatable of validated courses (what `validate` returns).
M.course_mt = { __name = "coursegen.course" }

--- Most chapters a course may have.
M.MAX_CHAPTERS = 500

local KEYS = {
  title = "string", description = "string", audience = "string", language = "string", author = "string",
  source = "string", instructions = "string", chapters = true, prompts = "table", max_chapters = "number",
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

-- Fields that may span lines; every other text is one line (a title, a language).
local MULTILINE = { description = true, instructions = true }

local function check_string(where, field, v, required)
  if v == nil then
    if required then fail(format("%s: %s: missing (required)", where, field)) end
    return nil
  end
  if type(v) ~= "string" then
    fail(format("%s: %s: expected a string, got %s", where, field, typename(v)))
  end
  local bad = title_mod.problem(v, MULTILINE[field] or field:match("%.brief$") ~= nil)
  if bad then fail(format("%s: %s: %s; only visible text may appear here", where, field, bad)) end
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
    local key = title_mod.key(title)
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

-- A course file is a document that gets shared: its `source` must not reach outside its
-- own folder (`../../.ssh/id_ed25519`, or a link planted beside it), or the file's text
-- would be sent in every prompt. Whoever wants another file passes `--source`.
local function check_confined(where, path, dir)
  local ok, err = realpath.inside(path, dir)
  if ok == nil then fail(format("%s: source: %s", where, err)) end
  if not ok then
    fail(format("%s: source: %s is outside the course file's folder; a course file may only use a "
      .. "document beside it (pass --source FILE on the command line to use this one)", where, path))
  end
end

--- Validates a course table; raises `{msg = ...}` on the first problem.
-- @tparam table t the raw course
-- @tparam string where the name used in errors (the file, or "course")
-- @tparam[opt] string dir the course file's folder: a relative `source` is resolved
--   against it, and must stay inside it (links followed). Without it (a course given as a
--   Lua table by the caller's own code) `source` is any path, relative to the current folder.
-- @treturn table the validated course
function M.check(t, where, dir)
  if type(t) ~= "table" then fail(format("%s: expected an object, got %s", where, typename(t))) end
  for _, k in ipairs(sorted_keys(t)) do
    if not KEYS[k] then fail(format("%s: unknown key %q", where, k)) end
  end
  local c = { file = where ~= "course" and where or nil }
  c.title = check_string(where, "title", t.title, true)
  for _, k in ipairs { "description", "audience", "language", "author", "instructions", "source" } do
    local v = check_string(where, k, t[k])
    if v ~= "" then c[k] = v end
  end
  if t.chapters ~= nil then
    c.chapters, c.chapter_count = check_chapters(where, t.chapters)
  end
  if t.max_chapters ~= nil then
    -- the model chooses how many chapters, up to this; a given number or list leaves no choice
    local n = t.max_chapters
    if type(n) ~= "number" or n ~= math.floor(n) or n < 1 or n > M.MAX_CHAPTERS then
      fail(format("%s: max_chapters: must be a whole number from 1 to %d, got %s", where, M.MAX_CHAPTERS,
        tostring(n)))
    end
    n = math.tointeger(n)
    if t.chapters ~= nil then
      fail(format("%s: max_chapters: the course already gives chapters; keep one of the two", where))
    end
    c.max_chapters, c.chapter_count = n, nil
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
    -- Confinement first for a file that is there: one outside the folder is refused before
    -- anything else is said of it.
    if dir and require("lfs").attributes(c.source) then check_confined(where, c.source, dir) end
    local ok, why = source.check(c.source)
    if not ok then fail(format("%s: source: %s", where, why)) end
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
    local bad = title_mod.problem(line, true)
    if bad then fail(format("%s:%d: %s; only visible text may appear here", where, ln, bad)) end
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
        local key = title_mod.key(item)
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

local function read(path)
  local mode = lfs.attributes(path, "mode")
  if mode and mode ~= "file" then fail(format("%s: cannot read: not a regular file (a %s)", path, mode)) end
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

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

--- Reads a course file into its raw table, not yet validated (by extension: .json, .lua,
-- .md/.markdown). A Lua file runs in a child process (`coursegen.course_sandbox`).
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
    read(path) -- the size cap and a readable file, before a process is started
    local v, err = sandbox.eval(path, M.MAX_FILE_BYTES)
    if err then fail(err) end
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
