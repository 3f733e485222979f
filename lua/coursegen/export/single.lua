--- Runs pandoc once over a whole course to make one document (shared by EPUB and DOCX).
-- @module coursegen.export.single
local M = {}

local fsutil = require "coursegen.export.fsutil"
local pandoc = require "coursegen.export.pandoc"
local reader = require "coursegen.export.reader"
local book_input = require "coursegen.export.book_input"
local ipairs, type, error = ipairs, type, error

--- Convert a course to one file, written atomically.
-- @tparam table course from `course_folder.read`
-- @tparam table opts `{pandoc = path, out = folder, to = pandoc writer, name = file name,
--   format = our format name, extra = {more pandoc arguments}}`
-- @treturn table|nil `{format, path}`
-- @treturn string error
function M.export(course, opts)
  if type(course) ~= "table" then error("argument 1 expected a course table", 2) end
  if type(opts) ~= "table" or type(opts.pandoc) ~= "string" or type(opts.to) ~= "string" then
    error("argument 2 expected options with 'pandoc' and 'to'", 2)
  end
  local out = opts.out or course.dir
  local target = out .. "/" .. opts.name
  local staging = fsutil.sibling_tmp(target) .. "." .. (opts.name:match("%.(%w+)$") or "out")
  local ok, err = fsutil.protect(fsutil.with_tmpdir, function(tmp)
    local inputs = book_input.write(course, tmp)
    local args = {
      "--from=" .. reader.format, "--to=" .. opts.to, "--standalone", "--toc", "--toc-depth=2",
      "--lua-filter=" .. inputs.filter, "--metadata-file=" .. inputs.meta,
      "--highlight-style=" .. reader.highlight_style, "--resource-path=" .. course.dir,
      "--output=" .. staging,
    }
    for _, a in ipairs(opts.extra or {}) do args[#args + 1] = a end
    args[#args + 1] = "--"
    for _, f in ipairs(inputs.files) do args[#args + 1] = f end
    fsutil.check(pandoc.run(opts.pandoc, args))
    return true
  end)
  if not ok then
    os.remove(staging)
    return nil, err
  end
  local rok, rerr = os.rename(staging, target)
  if not rok then
    os.remove(staging)
    return nil, ("cannot write %s: %s"):format(target, rerr)
  end
  return { format = opts.format, path = target }
end

--- An exporter module for one pandoc writer, the shape `coursegen.export` loads for every
-- format: EPUB and DOCX differ only in the writer and the file name, so each of their
-- modules is this with its three values.
-- @tparam table def `{format = our format name, to = pandoc writer, file = file name}`
-- @treturn table a module: `file` (the file name inside the output folder) and
--   `export(course, opts)` (`opts = {pandoc = path, out = folder}`; returns
--   `{format, path}` or `nil, err`)
function M.exporter(def)
  local mod = { file = def.file }
  function mod.export(course, opts)
    return M.export(course, {
      pandoc = opts.pandoc, out = opts.out, to = def.to, name = mod.file, format = def.format,
    })
  end
  return mod
end

return M
