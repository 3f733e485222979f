--- `coursegen outline`: generates the outline only (one structured request when the
-- course asks for N chapters) and writes it as a course file the user can edit and pass
-- to `generate`: Markdown on stdout or in `-o FILE`, or JSON when FILE ends in `.json`.
-- @module coursegen.cli.outline
local M = {}

local cli_course = require "coursegen.cli.course"
local settings = require "coursegen.cli.settings"
local json = require "coursegen.json"
local fail = require "coursegen.fail"
local files = require "coursegen.files"
local outline = require "coursegen.outline"
local realpath = require "coursegen.realpath"

local type, string_format = type, string.format

--- The outline as a Markdown course file.
-- @tparam table course `{ title, description, ... }`
-- @tparam table chapters list of `{ title, brief }`
-- @treturn string
function M.markdown(course, chapters)
  local out = { "# " .. course.title, "" }
  if course.description then out[#out + 1] = course.description; out[#out + 1] = "" end
  for i, ch in ipairs(chapters) do
    out[#out + 1] = string_format("%d. %s", i, ch.title)
    if ch.brief and ch.brief ~= "" then out[#out + 1] = "   " .. ch.brief:gsub("%s*\n%s*", " ") end
  end
  return table.concat(out, "\n") .. "\n"
end

--- Where a course file at `file` finds `source`: relative to the file's folder when the
-- source is inside it, else the absolute path (which that course file may not use: the
-- user passes it with --source, as for any course file).
-- @tparam string source
-- @tparam string file
-- @treturn string
function M.source_from(source, file)
  local real = realpath.resolve(source)
  local dir = realpath.resolve(file:match("^(.*)/[^/]*$") or ".")
  if not real then return source end
  if not dir then return real end
  if dir ~= "/" and real:sub(1, #dir + 1) == dir .. "/" then return real:sub(#dir + 2) end
  return real
end

--- The outline as a JSON course file (the course's other fields kept).
-- @tparam table course
-- @tparam table chapters
-- @tparam[opt] string file where it is written (a `source` is made relative to it)
-- @treturn string
function M.json(course, chapters, file)
  local t = {}
  for _, k in ipairs { "title", "description", "audience", "language", "instructions", "source" } do
    t[k] = course[k]
  end
  if t.source and file then t.source = M.source_from(t.source, file) end
  local list = json.array {}
  for i, ch in ipairs(chapters) do list[i] = { title = ch.title, brief = ch.brief } end
  t.chapters = list
  return json.pretty(t, { "title", "description", "audience", "language", "source",
    "instructions", "chapters", "brief" })
end

--- Generates the outline of `course` with settled settings `s`: the pipeline's own
-- outline step (a run that writes no chapter), which also saves it as
-- `<out>/outline.json`, where `generate` finds it.
-- @param cg the `coursegen` module
-- @tparam table course
-- @tparam table s settings (`coursegen.cli.settings.resolve`, with `only = {}`)
-- @treturn table|nil chapters `{ {title, brief} }`, or nil, a message and a kind
function M.generate_outline(cg, course, s)
  local stats, err, kind = cg.generate(course, s)
  if not stats then return nil, err, kind end
  if stats.interrupted then return nil, "interrupted", "interrupted" end
  local path = stats.out .. "/" .. outline.FILE
  local chapters, lerr = outline.load(path)
  if chapters then return chapters end
  if lerr then return nil, lerr, "input" end
  return nil, "the outline was not generated (" .. path .. " is missing)", "request"
end

--- The settings `outline` runs with: those `generate` would use (the same layers, limits
-- and limiter included), writing no chapter.
-- @tparam table course
-- @tparam table args parsed command line
-- @tparam table ctx
-- @tparam table file_options the course file's checked options
-- @treturn table|nil settings, or nil and a message
function M.settings(course, args, ctx, file_options)
  return settings.resolve(course, args, {
    env = ctx.env, file_options = file_options, need_key = true,
    extra = { catch_signals = true, only = {} },   -- no chapter is written
  })
end

--- Runs the command.
-- @tparam table args parsed command line
-- @tparam table ctx
-- @treturn integer|nil exit code, or nil, a message and an exit code
function M.run(args, ctx)
  local cg = require "coursegen"
  local course, file_options = cli_course.build(args, cg)
  if not course then return nil, file_options, 2 end
  local chapters
  if type(course.chapters) == "table" then
    chapters = course.chapters      -- the outline is already there: nothing to ask
  else
    local s, err = M.settings(course, args, ctx, file_options)
    if not s then return nil, err, 2 end
    local log
    if args.log_file then
      log, err = require("coursegen.cli.eventlog").open(args.log_file, s)
      if not log then return nil, err, 2 end
      s.on_event = log:handler()
    end
    local res, oerr, kind = M.generate_outline(cg, course, s)
    if log then log:close(nil, oerr) end
    if not res then
      local explain = require("coursegen.cli.generate").explain
      return nil, explain(oerr, s), kind == "interrupted" and 130
        or (kind == "input" or kind == "auth" or kind == "busy") and 2 or 1
    end
    chapters = res
  end
  local to_file = args.output and args.output ~= "-" -- "-": standard output
  local as_json = to_file and args.output:lower():match("%.json$")
  local text = as_json and M.json(course, chapters, args.output) or M.markdown(course, chapters)
  if to_file then
    local ok, err = fail.protect(files.write, args.output, text)
    if not ok then return nil, "-o: " .. err, 1 end
    if not args.quiet then
      ctx.stderr:write(string_format("outline: %d chapters written to %s; edit it, then run: coursegen generate %s\n",
        #chapters, args.output, args.output))
    end
  else
    ctx.stdout:write(text)
  end
  return 0
end

return M
