--- Export a course folder as a Word document (`DIR/course.docx`).
--
-- Title block, a table of contents field (Word fills it in when the document is opened),
-- the chapters in order, and the course's title, description, language and author in the
-- document properties.
-- @module coursegen.export.docx
local single = require "coursegen.export.single"

-- `M.file` is "course.docx"; `M.export(course, opts)` writes it (see `single.exporter`).
local M = single.exporter { format = "docx", to = "docx", file = "course.docx" }

return M
