--- Export a course folder as an EPUB 3 book (`DIR/course.epub`).
--
-- Title page, a table of contents, one section per chapter in order, and the course's
-- title, description, language and author in the book's metadata.
-- @module coursegen.export.epub
local single = require "coursegen.export.single"

-- `M.file` is "course.epub"; `M.export(course, opts)` writes it (see `single.exporter`).
local M = single.exporter { format = "epub", to = "epub3", file = "course.epub" }

return M
