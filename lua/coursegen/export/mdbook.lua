--- Export a course folder as an mdBook source tree in `DIR/book/`.
--
-- `DIR/book/book.toml` and `DIR/book/src/` with `SUMMARY.md` and copies of `README.md`
-- (prefix chapter "Introduction", which mdBook renders as `index.html`) and of every chapter
-- (numbered chapters, in order; failed chapters stay in the list as draft chapters so the
-- numbering matches the course). Copies, rather than `src = "."` on the course folder, keep
-- mdBook from publishing `course.json` and the other exports, and keep its build output
-- (`DIR/book/html/`) out of the course folder. `mdbook build DIR/book` works as is.
-- @module coursegen.export.mdbook
local M = {}

local fsutil = require "coursegen.export.fsutil"
local ipairs, type, error, concat = ipairs, type, error, table.concat

--- Quote a string as a TOML basic string.
-- @tparam string s
-- @treturn string
function M.toml_string(s)
  if type(s) ~= "string" then error("argument 1 expected a 'string'", 2) end
  s = s:gsub('[\\"]', "\\%0"):gsub("%c", function(c) return ("\\u%04X"):format(c:byte()) end)
  return '"' .. s .. '"'
end

--- Escape a title for the link text of a SUMMARY.md entry.
-- @tparam string s
-- @treturn string
function M.link_text(s)
  if type(s) ~= "string" then error("argument 1 expected a 'string'", 2) end
  return (s:gsub("%c+", " "):gsub("%p", "\\%0"))
end

--- The text of `book.toml`.
-- @tparam table course from `course_folder.read`
-- @treturn string
function M.book_toml(course)
  local lines = { "[book]", "title = " .. M.toml_string(course.title) }
  if course.author then lines[#lines + 1] = "authors = [" .. M.toml_string(course.author) .. "]" end
  if course.description then lines[#lines + 1] = "description = " .. M.toml_string(course.description) end
  if course.lang then lines[#lines + 1] = "language = " .. M.toml_string(course.lang) end
  lines[#lines + 1] = 'src = "src"'
  lines[#lines + 1] = ""
  lines[#lines + 1] = "[build]"
  lines[#lines + 1] = 'build-dir = "html"'
  lines[#lines + 1] = "create-missing = false"
  return concat(lines, "\n") .. "\n"
end

--- The text of `SUMMARY.md`.
-- @tparam table course from `course_folder.read`
-- @treturn string
function M.summary(course)
  local lines = { "# Summary", "" }
  if course.readme then
    lines[#lines + 1] = "[Introduction](README.md)"
    lines[#lines + 1] = ""
  end
  local all = {}
  for _, ch in ipairs(course.chapters) do all[#all + 1] = ch end
  for _, ch in ipairs(course.skipped) do all[#all + 1] = ch end
  table.sort(all, function(a, b) return a.index < b.index end)
  for _, ch in ipairs(all) do
    local target = ch.status == "done" and ch.file or ""
    lines[#lines + 1] = ("- [%s](%s)"):format(M.link_text(ch.title), target)
  end
  return concat(lines, "\n") .. "\n"
end

local function build(course, staging)
  local src = staging .. "/src"
  fsutil.check(fsutil.mkdir_p(src))
  fsutil.check(fsutil.write(staging .. "/book.toml", M.book_toml(course)))
  fsutil.check(fsutil.write(src .. "/SUMMARY.md", M.summary(course)))
  if course.readme then fsutil.check(fsutil.write(src .. "/README.md", course.readme)) end
  for _, ch in ipairs(course.chapters) do
    fsutil.check(fsutil.write(src .. "/" .. ch.file, ch.text))
  end
  return true
end

--- Write the mdBook tree.
-- @tparam table course from `course_folder.read`
-- @tparam[opt] table opts `{out = folder}` (defaults to the course folder)
-- @treturn table|nil `{format = "mdbook", path = ".../book", files = n}`
-- @treturn string error
function M.export(course, opts)
  if type(course) ~= "table" then error("argument 1 expected a course table", 2) end
  local out = (opts and opts.out) or course.dir
  local dest = out .. "/book"
  local staging = fsutil.sibling_tmp(dest)
  local ok, err = fsutil.protect(build, course, staging)
  if not ok then
    fsutil.rmtree(staging)
    return nil, err
  end
  ok, err = fsutil.replace_dir(staging, dest)
  if not ok then
    fsutil.rmtree(staging)
    return nil, ("cannot move the book into %s: %s"):format(dest, err)
  end
  return { format = "mdbook", path = dest, files = #course.chapters + (course.readme and 2 or 1) }
end

return M
