--- Reading and validating a course folder (the output of `coursegen generate`).
--
-- A course folder holds `course.json` (the manifest), `README.md` and one Markdown file per
-- chapter. `read` returns the chapters that are done, in order, with their text; failed
-- chapters are listed apart so exporters can leave them out.
-- @module coursegen.export.course_folder
local M = {}

local cjson = require "cjson.safe"
local fsutil = require "coursegen.export.fsutil"
local type, error, ipairs, pairs, tostring = type, error, ipairs, pairs, tostring
local tointeger, sort = math.tointeger, table.sort

local NULL = cjson.null

-- Language names a course file may use, mapped to BCP 47 tags for EPUB, DOCX and HTML.
local LANGS = {
  english = "en", french = "fr", ["français"] = "fr", german = "de", deutsch = "de",
  spanish = "es", ["español"] = "es", italian = "it", italiano = "it", portuguese = "pt",
  ["português"] = "pt", dutch = "nl", nederlands = "nl", polish = "pl", polski = "pl",
  russian = "ru", ukrainian = "uk", czech = "cs", swedish = "sv", danish = "da",
  norwegian = "no", finnish = "fi", greek = "el", turkish = "tr", arabic = "ar",
  hebrew = "he", hindi = "hi", chinese = "zh", japanese = "ja", korean = "ko",
  vietnamese = "vi", indonesian = "id", romanian = "ro", hungarian = "hu", catalan = "ca",
}

--- A BCP 47 language tag for a course's `language` field, or nil when unknown.
-- Accepts tags (`"en"`, `"pt-BR"`) and common English or native names (`"French"`).
-- @tparam string|nil language
-- @treturn string|nil
function M.lang_tag(language)
  if type(language) ~= "string" then return nil end
  local s = language:gsub("^%s+", ""):gsub("%s+$", "")
  if s:match("^%a%a%a?$") or s:match("^%a%a%a?[-_]%w+$") then
    return (s:gsub("_", "-"))
  end
  return LANGS[s:lower()]
end

local function fail(fmt, ...)
  error({ msg = fmt:format(...) }, 0)
end

local function opt_string(t, key, where)
  local v = t[key]
  if v == nil or v == NULL then return nil end
  if type(v) ~= "string" then fail("%s: field '%s' must be a string, got a %s", where, key, type(v)) end
  if v == "" then return nil end
  return v
end

--- Whether a manifest's file name is a plain Markdown file inside the folder.
-- @tparam string name
-- @treturn boolean
function M.safe_name(name)
  return type(name) == "string" and #name <= 255 and name:sub(1, 1) ~= "."
    and not name:find("[/\\%z]") and name:match("%.md$") ~= nil
    and not name:find("[%c\"'<>()%[%]{}|`%s]")
end

local function author_of(manifest, where)
  local a = manifest.author
  if a == nil or a == NULL then a = manifest.authors end
  if a == nil or a == NULL then return nil end
  if type(a) == "string" then return a ~= "" and a or nil end
  if type(a) == "table" then
    local names = {}
    for i, n in ipairs(a) do
      if type(n) ~= "string" then fail("%s: field 'authors' item %d must be a string", where, i) end
      names[#names + 1] = n
    end
    return #names > 0 and table.concat(names, ", ") or nil
  end
  fail("%s: field 'author' must be a string, got a %s", where, type(a))
end

--- The course description from a README written by `coursegen generate`: the first
-- paragraph after the title, when it is plain text.
-- @tparam string text the README
-- @treturn string|nil
function M.readme_description(text)
  if type(text) ~= "string" then return nil end
  local para = text:match("^#[^\n]*\n%s*\n(.-)\n%s*\n") or text:match("^#[^\n]*\n%s*\n(.-)%s*$")
  if not para or para == "" then return nil end
  if para:match("^[#%-%*%d>|`<%[!]") then return nil end
  return (para:gsub("%s*\n%s*", " "))
end

--- The course summary's text from the manifest's `summary` field (an entry with `text`,
-- or a plain string); nil when absent, empty or not finished.
-- @param v the field
-- @treturn string|nil
function M.summary_text(v)
  if type(v) == "string" then return (not v:match("^%s*$")) and v or nil end
  if type(v) ~= "table" then return nil end
  if v.status ~= nil and v.status ~= NULL and v.status ~= "done" then return nil end
  if type(v.text) == "string" and not v.text:match("^%s*$") then return v.text end
  return nil
end

--- A stage file's text as a section of its chapter: its headings one level down, and a
-- heading named after the stage when it has none of its own.
-- @tparam string name the stage's name (`"quiz"`)
-- @tparam string text the file's Markdown
-- @treturn string
function M.stage_section(name, text)
  text = text:gsub("^\239\187\191", ""):gsub("^%s+", ""):gsub("%s+$", "")
  if not text:match("^#") then
    text = "# " .. name:sub(1, 1):upper() .. name:sub(2) .. "\n\n" .. text
  end
  return (("\n" .. text):gsub("\n(#+)([ \t])", "\n#%1%2"):sub(2))
end

-- The files a chapter's stages wrote (hooks.stages, e.g. a quiz), in stage-name order:
-- those the manifest lists as done, inside the folder, and present.
local function stage_files(dir, ch, where, i)
  if type(ch.stages) ~= "table" then return {} end
  local names = {}
  for name, st in pairs(ch.stages) do
    if type(name) == "string" and type(st) == "table" and st.status == "done" then names[#names + 1] = name end
  end
  sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local file = ch.stages[name].file
    if not M.safe_name(file) then
      fail("%s: chapter %d: stage %s: unsafe or invalid file name %q", where, i, name, tostring(file))
    end
    local path = dir .. "/" .. file
    if fsutil.is_file(path) then
      local text, err = fsutil.read(path)
      if not text then fail("%s: cannot read: %s", path, err) end
      if text:match("%S") then out[#out + 1] = { name = name, file = file, path = path, text = text } end
    end
  end
  return out
end

local function read_chapter(dir, ch, where)
  local i = type(ch.index) == "number" and tointeger(ch.index) or nil
  if not i or i < 1 then
    fail("%s: chapter %s: 'index' must be a positive integer", where, tostring(ch.index))
  end
  local title = ch.title
  if type(title) ~= "string" or title:match("^%s*$") then
    fail("%s: chapter %d: 'title' must be a non-empty string", where, i)
  end
  local status = ch.status
  if status == nil or status == NULL then status = "done" end
  if type(status) ~= "string" then fail("%s: chapter %d: 'status' must be a string", where, i) end
  local file = ch.file
  if file == nil or file == NULL then
    if status == "done" then fail("%s: chapter %d: 'file' is missing", where, i) end
  elseif not M.safe_name(file) then
    fail("%s: chapter %d: unsafe or invalid file name %q (expected NN-slug.md inside the folder)",
      where, i, tostring(file))
  end
  local entry = { index = i, title = title, file = file, status = status }
  if status ~= "done" then return entry end
  local path = dir .. "/" .. file
  local text, err = fsutil.read(path)
  if not text then
    if not fsutil.exists(path) then fail("%s: missing (course.json lists chapter %d as done)", path, i) end
    fail("cannot read %s", err)
  end
  if text:match("^%s*$") then fail("%s: the chapter file is empty", path) end
  entry.path, entry.text = path, text
  local extras = stage_files(dir, ch, where, i)
  if #extras > 0 then
    local parts = { (text:gsub("%s+$", "")) }
    for _, x in ipairs(extras) do parts[#parts + 1] = M.stage_section(x.name, x.text) end
    entry.text, entry.extras = table.concat(parts, "\n\n") .. "\n", extras
  end
  return entry
end

local function read(dir)
  dir = dir:gsub("(.)/+$", "%1")
  if not fsutil.is_dir(dir) then fail("%s: no such folder", dir) end
  local where = dir .. "/course.json"
  if not fsutil.is_file(where) then
    fail("%s: not a course folder (course.json is missing)", dir)
  end
  local raw, rerr = fsutil.read(where)
  if not raw then fail("%s: cannot read: %s", where, rerr) end
  local manifest, jerr = cjson.decode(raw)
  if manifest == nil then fail("%s: invalid JSON: %s", where, jerr) end
  if type(manifest) ~= "table" then fail("%s: expected a JSON object", where) end
  local fmt = manifest.format
  if fmt ~= nil and fmt ~= NULL and fmt ~= 1 then
    fail("%s: unsupported manifest format %s (this version reads format 1)", where, tostring(fmt))
  end
  local title = manifest.title
  if type(title) ~= "string" or title:match("^%s*$") then
    fail("%s: field 'title' must be a non-empty string", where)
  end
  if type(manifest.chapters) ~= "table" then fail("%s: field 'chapters' must be a list", where) end
  local course = {
    dir = dir, manifest_path = where, title = title,
    description = opt_string(manifest, "description", where),
    language = opt_string(manifest, "language", where),
    author = author_of(manifest, where),
    provider = opt_string(manifest, "provider", where),
    model = opt_string(manifest, "model", where),
    chapters = {}, skipped = {},
  }
  course.lang = M.lang_tag(course.language)
  course.summary = M.summary_text(manifest.summary)
  local seen_index, seen_file, all = {}, {}, {}
  for n, ch in ipairs(manifest.chapters) do
    if type(ch) ~= "table" then fail("%s: chapters item %d must be an object", where, n) end
    local entry = read_chapter(dir, ch, where)
    if seen_index[entry.index] then fail("%s: chapter index %d appears twice", where, entry.index) end
    if entry.file and seen_file[entry.file] then fail("%s: file %s appears twice", where, entry.file) end
    seen_index[entry.index] = true
    if entry.file then seen_file[entry.file] = true end
    all[#all + 1] = entry
  end
  sort(all, function(a, b) return a.index < b.index end)
  for _, e in ipairs(all) do
    local list = e.status == "done" and course.chapters or course.skipped
    list[#list + 1] = e
  end
  if #course.chapters == 0 then fail("%s: no finished chapter to export", where) end
  local readme = dir .. "/README.md"
  if fsutil.is_file(readme) then
    course.readme, course.readme_path = fsutil.read(readme), readme
    course.description = course.description or M.readme_description(course.readme)
  end
  return course
end

--- Read and validate a course folder.
-- @tparam string dir the course folder
-- @treturn table|nil the course: `{dir, title, description, language, lang, author, provider,
--   model, readme, summary, chapters = {{index, title, file, path, text, extras}...},
--   skipped = {...}}`; a chapter's `text` ends with the files its stages wrote (`extras`:
--   `{name, file, path, text}`), each as a section of it
-- @treturn string an error naming the file at fault
function M.read(dir)
  if type(dir) ~= "string" or dir == "" then
    error(("argument 1 expected a folder path, got a '%s'"):format(type(dir)), 2)
  end
  local ok, res = pcall(read, dir)
  if ok then return res end
  if type(res) == "table" and res.msg then return nil, res.msg end
  error(res, 0)
end

--- Map of every chapter file name (done or not) to its chapter entry.
-- @tparam table course from `read`
-- @treturn table
function M.files(course)
  local map = {}
  for _, list in pairs{ course.chapters, course.skipped } do
    for _, e in ipairs(list) do
      if e.file then map[e.file] = e end
    end
  end
  return map
end

return M
