--- Export a course folder as a Word document (`DIR/course.docx`).
--
-- Title block, a table of contents field (Word fills it in when the document is opened),
-- the chapters in order, and the course's title, description, language and author in the
-- document properties.
-- @module coursegen.export.docx
local M = { _VERSION = "0.1" }

local single = require "coursegen.export.single"

--- File name of the document inside the output folder.
M.file = "course.docx"

--- Write the DOCX.
-- @tparam table course from `course_folder.read`
-- @tparam table opts `{pandoc = path, out = folder}`
-- @treturn table|nil `{format = "docx", path = ".../course.docx"}`
-- @treturn string error
function M.export(course, opts)
  return single.export(course, {
    pandoc = opts.pandoc, out = opts.out, to = "docx", name = M.file, format = "docx",
  })
end

return M
