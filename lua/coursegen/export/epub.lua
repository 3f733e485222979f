--- Export a course folder as an EPUB 3 book (`DIR/course.epub`).
--
-- Title page, a table of contents, one section per chapter in order, and the course's
-- title, description, language and author in the book's metadata.
-- @module coursegen.export.epub
local M = { _VERSION = "0.1" }

local single = require "coursegen.export.single"

--- File name of the book inside the output folder.
M.file = "course.epub"

--- Write the EPUB.
-- @tparam table course from `course_folder.read`
-- @tparam table opts `{pandoc = path, out = folder}`
-- @treturn table|nil `{format = "epub", path = ".../course.epub"}`
-- @treturn string error
function M.export(course, opts)
  return single.export(course, {
    pandoc = opts.pandoc, out = opts.out, to = "epub3", name = M.file, format = "epub",
  })
end

return M
