--- The course a command works on: a course file, or `--topic`/`--source`/`--chapters`,
-- or a file with those flags as overrides. Also reads the file's optional `options`
-- object (settings a course carries with it, such as its model or output folder).
-- @module coursegen.cli.course
local M = { _VERSION = "0.1" }

local settings = require "coursegen.cli.settings"
local course_mod = require "coursegen.course"
local fail = require "coursegen.fail"

local type = type

local function raw_of(course)
  local t = {}
  for _, k in ipairs { "title", "description", "audience", "language", "instructions", "source" } do
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
  local course, err
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
    course, err = fail.protect(course_mod.check, raw, path, path:match("^(.*)/[^/]*$") or ".")
    if not course then return nil, err end
    if args.topic or args.source or args.chapters then
      local t = raw_of(course)
      if args.topic then t.title = args.topic end
      if args.source then t.source = args.source end
      if args.chapters then t.chapters = args.chapters end
      course, err = cg.course(t)
      if not course then return nil, err end
    end
  elseif args.topic or args.source then
    local t = { title = args.topic, chapters = args.chapters }
    if args.source then
      t.source = args.source
      t.title = t.title or title_of_source(args.source)
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
