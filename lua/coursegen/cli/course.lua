--- The course a command works on: a course file, or `--topic`/`--source`/`--chapters`,
-- or a file with those flags (and `--max-chapters`, `--language`, `--audience`,
-- `--instructions`, `--instructions-file`) as overrides. Also reads the file's optional `options`
-- object (settings a course carries with it, such as its model or output folder).
-- @module coursegen.cli.course
local M = {}

local settings = require "coursegen.cli.settings"
local course_mod = require "coursegen.course"
local fail = require "coursegen.fail"

local type = type

-- The course fields a command-line flag replaces: flag's target → course field.
local OVERRIDES = {
  topic = "title", source = "source", chapters = "chapters", max_chapters = "max_chapters",
  language = "language", audience = "audience", instructions = "instructions",
}

--- Largest `--instructions-file` read: instructions are a paragraph or a page.
M.MAX_INSTRUCTIONS_BYTES = 256 * 1024

local function raw_of(course)
  local t = {}
  for _, k in ipairs { "title", "description", "audience", "language", "instructions", "source", "max_chapters" } do
    t[k] = course[k]
  end
  if type(course.chapters) == "table" then
    local list = {}
    for i, ch in ipairs(course.chapters) do list[i] = { title = ch.title, brief = ch.brief } end
    t.chapters = list
  elseif course.chapter_count then
    t.chapters = course.chapter_count
  end
  if type(course.prompts) == "table" and next(course.prompts) then t.prompts = course.prompts end
  return t
end

--- The course fields the command line sets, `--instructions-file` read.
-- @tparam table args parsed command line
-- @treturn table|nil field → value (empty when no flag sets one), or nil and a message
function M.overrides(args)
  if args.chapters and args.max_chapters then
    return nil, "--chapters and --max-chapters can not be used together"
  end
  if args.instructions and args.instructions_file then
    return nil, "--instructions and --instructions-file can not be used together"
  end
  local t = {}
  for flag, field in pairs(OVERRIDES) do t[field] = args[flag] end
  if args.instructions_file then
    local f, err = io.open(args.instructions_file, "rb")
    if not f then return nil, "--instructions-file: cannot read " .. tostring(err) end
    local text = f:read(M.MAX_INSTRUCTIONS_BYTES + 1) or ""
    f:close()
    if #text > M.MAX_INSTRUCTIONS_BYTES then
      return nil, string.format("--instructions-file: %s is larger than %d KiB", args.instructions_file,
        M.MAX_INSTRUCTIONS_BYTES // 1024)
    end
    if not text:match("%S") then return nil, "--instructions-file: " .. args.instructions_file .. " is empty" end
    t.instructions = text
  end
  -- a number of chapters, exact or at most, replaces the other one
  if t.chapters then t.max_chapters = false end
  if t.max_chapters then t.chapters = false end
  return t
end

-- The start of a file: enough to find a title, whatever the file's size.
local function read_head(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read(64 * 1024)
  f:close()
  return s
end

local function title_of_source(path)
  local text = read_head(path)
  if not text then return nil end
  for line in text:gmatch("[^\n]+") do
    local h = line:match("^#%s+(.-)%s*$")
    if h and h ~= "" then return h end
    if line:match("%S") then break end
  end
  local base = path:match("([^/]+)$") or path
  return (base:gsub("%.[^.]*$", ""):gsub("[-_]+", " "))
end

--- Builds the course from the parsed command line.
-- @tparam table args `{ course_file, topic, source, chapters }`
-- @tparam[opt] table cg the `coursegen` module (default `require "coursegen"`)
-- @treturn table|nil course, file options (checked), or nil and a message
function M.build(args, cg)
  cg = cg or require "coursegen"
  local over, err = M.overrides(args)
  if not over then return nil, err end
  local course
  local file_options = {}
  if args.source then
    local ok, why = require("coursegen.source").check(args.source)
    if not ok then return nil, "--source: " .. why end
  end
  if args.course_file then
    local path = args.course_file
    local f = io.open(path, "rb")
    if not f then return nil, path .. ": cannot read: no such file" end
    f:close()
    -- Read once, then checked twice: a Lua course file runs its sandboxed chunk only once.
    local raw
    raw, err = fail.protect(course_mod.read_raw, path)
    if not raw then return nil, err end
    if raw.options ~= nil then
      file_options, err = settings.check_file_options(raw.options, path)
      if not file_options then return nil, err end
    end
    -- The file's own `source` must stay beside it; one given with --source is the user's
    -- choice and replaces it unchecked.
    if args.source then raw.source = nil end
    course, err = fail.protect(course_mod.check, raw, path, path:match("^(.*)/[^/]*$") or ".")
    if not course then return nil, err end
    if next(over) then
      local t = raw_of(course)
      for k, v in pairs(over) do
        -- false clears: --chapters replaces the file's max_chapters, and the other way round
        if v == false then t[k] = nil else t[k] = v end
      end
      course, err = cg.course(t)
      if not course then return nil, err end
    end
  elseif args.topic or args.source then
    local t = { title = args.topic }
    if args.source then
      t.source = args.source
      t.title = t.title or title_of_source(args.source)
    end
    for k, v in pairs(over) do
      if v ~= false and k ~= "title" then t[k] = v end
    end
    course, err = cg.course(t)
    if not course then return nil, err end
  else
    return nil, "no course: give a COURSE_FILE, or --topic TEXT (or --source FILE) with --chapters N"
  end
  return course, file_options
end

--- Counts the chapters of a course (a list, or a number still to plan).
-- @tparam table course
-- @treturn integer|nil count
-- @treturn boolean whether the outline is still to be generated
function M.chapter_count(course)
  if type(course.chapters) == "table" then return #course.chapters, false end
  if type(course.chapters) == "number" then return course.chapters, true end
  return course.chapter_count, true
end

return M
