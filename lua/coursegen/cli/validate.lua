--- `coursegen validate COURSE_FILE`: checks a course file (and its `options`) and sends
-- nothing. Exit 0 when it is valid, 2 with the file, field (and line) otherwise.
-- @module coursegen.cli.validate
local M = {}

local cli_course = require "coursegen.cli.course"

--- Runs the command.
-- @tparam table args parsed command line
-- @tparam table ctx `{ stdout, stderr }`
-- @treturn integer|nil exit code, or nil and a message
function M.run(args, ctx)
  local course, err = cli_course.build { course_file = args.course_file }
  if not course then return nil, err, 2 end
  local n, planned = cli_course.chapter_count(course)
  local what
  if n == nil then what = "chapters to be planned"
  elseif planned then what = n .. " chapters to be planned"
  else what = n == 1 and "1 chapter" or (n .. " chapters") end
  ctx.stdout:write(string.format("%s: ok: \"%s\", %s\n", args.course_file, course.title, what))
  if args.verbose and type(course.chapters) == "table" then
    local width = #tostring(#course.chapters)
    for i, ch in ipairs(course.chapters) do
      ctx.stdout:write(string.format("  %" .. width .. "d. %s\n", i, ch.title))
    end
  end
  return 0
end

return M
