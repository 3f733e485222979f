--- Prepares a course for exporters that make one document (EPUB, DOCX).
--
-- Writes the course summary (when the manifest has one) as an opening section, and a copy
-- of each finished chapter, into a temporary folder with its first heading set
-- from the manifest title and given a stable anchor (`#ch-N`), so links between chapters
-- can point inside the one document; writes the metadata file and the link filter.
-- @module coursegen.export.book_input
local M = {}

local fsutil = require "coursegen.export.fsutil"
local meta = require "coursegen.export.meta"
local links_filter = require "coursegen.export.links_filter"
local ipairs, type, error = ipairs, type, error

--- The anchor of a chapter in a single-document export.
-- @tparam table ch chapter entry
-- @treturn string e.g. `"ch-3"`
function M.anchor(ch)
  return "ch-" .. ch.index
end

--- A chapter's text with its heading replaced by the manifest title and an explicit anchor.
-- @tparam table ch chapter entry (`title`, `index`, `text`)
-- @treturn string Markdown
function M.chapter_text(ch)
  local heading = ("# %s {#%s}"):format(meta.escape(ch.title), M.anchor(ch))
  local text = ch.text:gsub("^\239\187\191", ""):gsub("^%s*\n", "")
  local first, rest = text:match("^([^\n]*)\n?(.*)$")
  if first:match("^#%s") or first == "#" then
    return heading .. "\n" .. rest
  end
  return heading .. "\n\n" .. text
end

--- The course summary as an opening section: its own first heading when it has one
-- (made level 1, anchor `#summary`), else "Summary".
-- @tparam string text the summary from the manifest
-- @treturn string Markdown
function M.summary_text(text)
  local body = text:gsub("^\239\187\191", ""):gsub("^%s*\n", "")
  local first, rest = body:match("^([^\n]*)\n?(.*)$")
  local title = first:match("^#+%s+(.-)%s*#*%s*$")
  if title and title ~= "" then
    return ("# %s {#summary}\n%s"):format(title, rest)
  end
  return "# Summary {#summary}\n\n" .. body
end

--- Pandoc metadata for the whole course (language `en` when the course names none, as
-- pandoc would otherwise take it from the locale, e.g. `C`).
-- @tparam table course from `course_folder.read`
-- @treturn table
function M.metadata(course)
  return {
    title = course.title,
    subtitle = course.description,
    description = course.description,
    author = course.author and { course.author } or nil,
    lang = course.lang or "en",
    ["toc-title"] = "Contents",
  }
end

--- Write the inputs into `tmp`.
-- @tparam table course from `course_folder.read`
-- @tparam string tmp a temporary folder
-- @treturn table `{files = {...}, meta = path, filter = path}`
function M.write(course, tmp)
  if type(course) ~= "table" or type(tmp) ~= "string" then error("expected a course and a folder", 2) end
  -- Inside one document the README is not a target: its links keep only their text.
  local map = links_filter.map(course, false, function(_, e) return "#" .. M.anchor(e) end)
  local inputs = { files = {}, meta = tmp .. "/meta.json", filter = tmp .. "/links.lua" }
  fsutil.check(meta.write(inputs.meta, M.metadata(course)))
  fsutil.check(fsutil.write(inputs.filter, links_filter.source(map)))
  if course.summary then
    local path = tmp .. "/chapter-0000.md"
    fsutil.check(fsutil.write(path, M.summary_text(course.summary) .. "\n"))
    inputs.files[1] = path
  end
  for i, ch in ipairs(course.chapters) do
    local path = ("%s/chapter-%04d.md"):format(tmp, i)
    fsutil.check(fsutil.write(path, M.chapter_text(ch) .. "\n"))
    inputs.files[#inputs.files + 1] = path
  end
  return inputs
end

return M
