--- Small file helpers for the exporters: reading, atomic writing, temporary folders.
-- Reading, writing and creating folders are `coursegen.files` (one atomic write, one
-- temporary-name scheme for the whole tool); this module adds what only the exporters need
-- and keeps their error style, `nil, err` (`coursegen.files` raises "io" failures).
-- @module coursegen.export.fsutil
local M = {}

local lfs = require "lfs"
local files = require "coursegen.files"
local fail = require "coursegen.fail"
local os, type, error, table, tostring = os, type, error, table, tostring

-- Calls a `coursegen.files` function, turning its raised "io" failure into `nil, err`.
local function returning(fn, ...)
  local ok, err = fail.protect(fn, ...)
  if ok == nil then return nil, err end
  return ok
end

--- Read a whole file of a course folder, never through a symbolic link (a link planted in
-- the folder must not publish the file it points to).
-- @tparam string path
-- @treturn string|nil contents
-- @treturn string error
function M.read(path)
  local text, err = files.read_output(path)
  return text, err
end

--- Whether a path is an existing regular file (a symbolic link is not one).
-- @tparam string path
-- @treturn boolean
function M.is_file(path)
  return lfs.symlinkattributes(path, "mode") == "file"
end

--- Whether anything (a file, a link, a folder) is at `path`; a link is not followed.
-- @tparam string path
-- @treturn boolean
function M.exists(path)
  return lfs.symlinkattributes(path, "mode") ~= nil
end

--- Whether a path is an existing directory.
-- @tparam string path
-- @treturn boolean
function M.is_dir(path)
  return lfs.attributes(path, "mode") == "directory"
end

--- Write a file atomically: a temporary file in the same folder, then a rename.
-- @tparam string path
-- @tparam string data
-- @treturn boolean|nil true
-- @treturn string error
function M.write(path, data)
  if type(data) ~= "string" then error("argument 2 expected a 'string'", 2) end
  return returning(files.write, path, data)
end

--- A name for a temporary sibling of `path` (same folder, so a rename is atomic).
-- @function sibling_tmp
-- @tparam string path
-- @treturn string
M.sibling_tmp = files.temp_name

--- Create a directory and its parents.
-- @tparam string path
-- @treturn boolean|nil true
-- @treturn string error
function M.mkdir_p(path)
  return returning(files.mkdir_p, path)
end

--- Remove a file or a directory tree (symbolic links are removed, never followed).
-- @tparam string path
-- @treturn boolean|nil true
-- @treturn string error
function M.rmtree(path)
  local mode = lfs.symlinkattributes(path, "mode")
  if not mode then return true end
  if mode == "directory" then
    for name in lfs.dir(path) do
      if name ~= "." and name ~= ".." then
        local ok, err = M.rmtree(path .. "/" .. name)
        if not ok then return nil, err end
      end
    end
    local ok, err = lfs.rmdir(path)
    if not ok then return nil, err end
    return true
  end
  local ok, err = os.remove(path)
  if not ok then return nil, err end
  return true
end

--- Make a fresh temporary directory.
-- @treturn string|nil its path
-- @treturn string error
function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  local ok, err = lfs.mkdir(p)
  if not ok then return nil, err end
  return p
end

--- Replace directory `dst` with directory `src` (removing the old `dst` first).
-- @tparam string src
-- @tparam string dst
-- @treturn boolean|nil true
-- @treturn string error
function M.replace_dir(src, dst)
  local old
  if lfs.symlinkattributes(dst, "mode") then
    old = M.sibling_tmp(dst)
    local ok, err = os.rename(dst, old)
    if not ok then return nil, err end
  end
  local ok, err = os.rename(src, dst)
  if not ok then
    if old then os.rename(old, dst) end
    return nil, err
  end
  if old then M.rmtree(old) end
  return true
end

--- Run `fn(tmpdir)` with a temporary directory that is removed afterwards,
-- even when `fn` raises (a failure to create it raises a structured error).
-- @tparam function fn
-- @return whatever `fn` returns
function M.with_tmpdir(fn)
  local dir, err = M.tmpdir()
  M.check(dir, err, "cannot create a temporary folder")
  local res = table.pack(pcall(fn, dir))
  M.rmtree(dir)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- Raise a structured error `{msg = ...}` when `ok` is falsy (caught by `protect`).
-- @param ok a result
-- @tparam string err its error message
-- @tparam[opt] string what a prefix for the message
-- @return ok
function M.check(ok, err, what)
  if not ok then error({ msg = what and (what .. ": " .. tostring(err)) or tostring(err) }, 0) end
  return ok
end

--- Call `fn(...)`, turning a structured error raised by `check` into `nil, msg`.
-- Any other error (a bug) is raised again.
-- @tparam function fn
-- @return `fn`'s results, or nil and the message
function M.protect(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  local e = res[2]
  if type(e) == "table" and e.msg then return nil, e.msg end
  error(e, 0)
end

return M
