--- Files on disk: atomic writes and folder creation.
-- A write goes to a temporary file in the same folder and is renamed over the target, so a
-- crash or Ctrl-C leaves either the old file or the new one, never half of one.
-- @module coursegen.files
local lfs = require "lfs"
local fail = require "coursegen.fail"

local M = { _VERSION = "0.1.0" }

local format = string.format

-- fsync is not in the standard library; use the C core's when it offers one. Looked up on
-- the first write, not at load: `--help` and `validate` load this module but write nothing,
-- and should not pay for loading the C core (libcurl, OpenSSL, hiredis).
local fsync -- false once the lookup found none

local function get_fsync()
  if fsync == nil then
    local ok, core = pcall(require, "coursegen.core")
    fsync = ok and type(core) == "table" and core.fsync or false
  end
  return fsync
end

local counter = 0

--- Whether a file exists (and can be opened).
-- @tparam string path
-- @treturn boolean
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

--- Reads a whole file, or at most `max` bytes of it.
-- @tparam string path
-- @tparam[opt] integer max a larger file is refused rather than read into memory
-- @treturn ?string the contents, or nil when it cannot be opened or is too large
-- @treturn ?string why not
function M.read(path, max)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  -- one byte past the limit, rather than trusting a size: pipes and /dev/zero have none
  local s = f:read(max and max + 1 or "a")
  f:close()
  s = s or ""
  if max and #s > max then
    return nil, string.format("file too large (more than %d MiB)", max // (1024 * 1024))
  end
  return s
end

--- Creates a folder and its parents; raises an "io" failure.
-- @tparam string path
-- @treturn true
function M.mkdir_p(path)
  local sofar = path:sub(1, 1) == "/" and "/" or ""
  for part in path:gmatch("[^/]+") do
    sofar = sofar .. part
    if lfs.attributes(sofar, "mode") == nil then
      local ok, err = lfs.mkdir(sofar)
      if not ok and lfs.attributes(sofar, "mode") ~= "directory" then
        fail.raise("io", "cannot create folder %s: %s", sofar, tostring(err))
      end
    elseif lfs.attributes(sofar, "mode") ~= "directory" then
      -- a file where the folder should be is the user's input to fix (exit 2), not a write failure
      fail.raise("input", "cannot create folder %s: a file is in the way (--out names a folder)", sofar)
    end
    sofar = sofar .. "/"
  end
  return true
end

-- Name of the temporary file `temp_name` makes for `base`; `remove_stale_temps` recognises it.
local TEMP_PATTERN = "^%..+%.tmp%-%d+%-%d+%-%d+$"

--- A fresh name for a temporary sibling of `path`: the same folder, so renaming it over
-- `path` is atomic, and a hidden name `remove_stale_temps` recognises.
-- @tparam string path
-- @treturn string
function M.temp_name(path)
  counter = counter + 1
  local dir = path:match("^(.*)/[^/]*$") or "."
  local base = path:match("([^/]*)$")
  return format("%s/.%s.tmp-%d-%d-%d", dir, base, os.time(), counter, math.random(1, 1000000000))
end

--- Removes the temporary files a killed run left in `dir` (a process killed between
-- writing a temporary file and renaming it can not clean up after itself). Only names
-- `write` makes are touched. Two runs writing into one folder at once are not supported
-- anyway (they would overwrite each other's manifest).
-- @tparam string dir
-- @treturn integer how many were removed
function M.remove_stale_temps(dir)
  local n = 0
  if lfs.attributes(dir, "mode") ~= "directory" then return n end
  for name in lfs.dir(dir) do
    if name:match(TEMP_PATTERN) and lfs.attributes(dir .. "/" .. name, "mode") == "file" then
      if os.remove(dir .. "/" .. name) then n = n + 1 end
    end
  end
  return n
end

--- Writes `data` to `path` atomically (temporary file in the same folder, then rename).
-- Raises an "io" failure (`coursegen.fail`).
-- @tparam string path
-- @tparam string data
-- @treturn true
function M.write(path, data)
  local tmp = M.temp_name(path)
  local f, err = io.open(tmp, "wb")
  if not f then
    -- io.open names the temporary file, which the user never asked for
    if err:sub(1, #tmp + 2) == tmp .. ": " then err = err:sub(#tmp + 3) end
    fail.raise("io", "cannot write %s: %s", path, tostring(err))
  end
  local ok, werr = f:write(data)
  if ok then ok, werr = f:flush() end
  if ok and get_fsync() then fsync(f) end
  f:close()
  if not ok then
    os.remove(tmp)
    fail.raise("io", "cannot write %s: %s", path, tostring(werr))
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    fail.raise("io", "cannot write %s: %s", path, tostring(rerr))
  end
  return true
end

return M
