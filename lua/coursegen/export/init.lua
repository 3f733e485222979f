--- Export a course folder to other formats: a static HTML site, EPUB, DOCX, an mdBook tree.
--
--     local export = require "coursegen.export"
--     local results, err = export.run("out/intro-to-lua", { "html", "epub" })
--     for _, r in ipairs(results) do print(r.format, r.path) end
--
-- Nothing is requested from any model: the course folder (`course.json`, `README.md`, the
-- chapter files) is read, checked, and converted. HTML, EPUB and DOCX need `pandoc`.
-- @module coursegen.export
local M = {}

local course_folder = require "coursegen.export.course_folder"
local pandoc = require "coursegen.export.pandoc"
local fsutil = require "coursegen.export.fsutil"
local type, error, ipairs, pairs, tostring, concat = type, error, ipairs, pairs, tostring, table.concat

--- Every format, in the order they are produced. `md` is the course folder itself.
M.FORMATS = { "md", "html", "epub", "docx", "mdbook" }

local EXPORTERS = {
  html = "coursegen.export.html",
  epub = "coursegen.export.epub",
  docx = "coursegen.export.docx",
  mdbook = "coursegen.export.mdbook",
}
local NEEDS_PANDOC = { html = true, epub = true, docx = true }
local KNOWN = {}
for i, f in ipairs(M.FORMATS) do KNOWN[f] = i end

--- Parse a `--format` value such as `"md,html,epub"` (or `"all"`).
-- Names are case-insensitive, spaces are ignored, duplicates are dropped.
-- @tparam string str comma-separated format names
-- @treturn table|nil the list of format names
-- @treturn string an error naming the unknown format and listing the valid ones
function M.parse_formats(str)
  if type(str) ~= "string" then
    error(("argument 1 expected a 'string', got a '%s'"):format(type(str)), 2)
  end
  local list, seen = {}, {}
  for item in (str .. ","):gmatch("([^,]*),") do
    local name = item:gsub("^%s+", ""):gsub("%s+$", ""):lower()
    if name == "all" then
      for _, f in ipairs(M.FORMATS) do
        if not seen[f] then seen[f] = true; list[#list + 1] = f end
      end
    elseif name ~= "" then
      if not KNOWN[name] then
        return nil, ("unknown format '%s' (valid formats: %s, or all)")
          :format(item:gsub("^%s+", ""):gsub("%s+$", ""), concat(M.FORMATS, ", "))
      end
      if not seen[name] then seen[name] = true; list[#list + 1] = name end
    end
  end
  if #list == 0 then
    return nil, ("no format given (valid formats: %s, or all)"):format(concat(M.FORMATS, ", "))
  end
  return list
end

local OPTS = { pandoc = "string", out = "string" }

local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error("argument 3 expected an options table", 4) end
  local copy = {}
  for k, v in pairs(opts) do
    if not OPTS[k] then error(("unknown option '%s'"):format(tostring(k)), 4) end
    if type(v) ~= OPTS[k] then
      error(("option '%s' expected a '%s', got a '%s'"):format(k, OPTS[k], type(v)), 4)
    end
    copy[k] = v
  end
  return copy
end

local function prepare(dir, formats, opts)
  if type(dir) ~= "string" or dir == "" then
    error(("argument 1 expected a folder path, got a '%s'"):format(type(dir)), 3)
  end
  if type(formats) == "string" then
    local list, err = M.parse_formats(formats)
    if not list then return nil, err end
    formats = list
  elseif type(formats) ~= "table" then
    error(("argument 2 expected a list of formats, got a '%s'"):format(type(formats)), 3)
  end
  opts = check_opts(opts)
  local plan = { formats = {}, opts = opts }
  local needs_pandoc = false
  for i, f in ipairs(formats) do
    if type(f) ~= "string" then error(("argument 2: item %d is not a string"):format(i), 3) end
    if not KNOWN[f] then
      return nil, ("unknown format '%s' (valid formats: %s)"):format(f, concat(M.FORMATS, ", "))
    end
    plan.formats[#plan.formats + 1] = f
    needs_pandoc = needs_pandoc or NEEDS_PANDOC[f] or false
  end
  local course, cerr = course_folder.read(dir)
  if not course then return nil, cerr end
  plan.course = course
  if needs_pandoc then
    local exe, perr = pandoc.find(opts.pandoc)
    if not exe then return nil, perr end
    plan.pandoc = exe
  end
  return plan
end

--- Check everything an export needs, writing nothing: the formats, the course folder, and
-- pandoc when a format needs it.
-- @tparam string dir the course folder
-- @tparam table|string formats as for `run`
-- @tparam[opt] table opts as for `run`
-- @treturn table|nil a plan for `run_plan`: `{course, formats, pandoc, opts}`
-- @treturn string the first problem found (bad input: nothing was written)
function M.check(dir, formats, opts)
  return prepare(dir, formats, opts)
end

--- Carry out a plan made by `check`.
-- @tparam table plan from `check`
-- @treturn table|nil results, as for `run`
-- @treturn string error naming the format that failed
-- @treturn table the results of the formats finished before the failure
function M.run_plan(plan)
  if type(plan) ~= "table" or type(plan.course) ~= "table" then
    error("argument 1 expected a plan from export.check", 2)
  end
  local opts = plan.opts or {}
  if opts.out then
    local ok, merr = fsutil.mkdir_p(opts.out)
    if not ok then return nil, merr, {} end
  end
  local results = {}
  for _, f in ipairs(plan.formats) do
    local res, err
    if f == "md" then
      res = { format = "md", path = plan.course.dir }
    else
      res, err = require(EXPORTERS[f]).export(plan.course, { pandoc = plan.pandoc, out = opts.out })
      if not res then return nil, ("%s export failed: %s"):format(f, err), results end
    end
    results[#results + 1] = res
  end
  return results
end

--- Export a course folder.
-- @tparam string dir the course folder (holds `course.json`)
-- @tparam table|string formats format names (see `FORMATS`), or a comma-separated string
-- @tparam[opt] table opts `pandoc` (path of the executable; default `$PANDOC` or `pandoc`
--   on `PATH`), `out` (folder to write into; default `dir`)
-- @treturn table|nil one result per format, in the order given:
--   `{format = "html", path = "DIR/site/index.html", ...}`; `md` gives `{format="md", path=DIR}`
-- @treturn string error: bad course folder (naming the file), unknown format, missing
--   pandoc (naming the package), or a failed conversion (naming the format)
function M.run(dir, formats, opts)
  local plan, err = prepare(dir, formats, opts)
  if not plan then return nil, err end
  return M.run_plan(plan)
end

return M
