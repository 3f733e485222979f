--- Files on disk: atomic writes and folder creation.
-- A write goes to a temporary file in the same folder and is renamed over the target, so a
-- crash or Ctrl-C leaves either the old file or the new one, never half of one.
-- @module coursegen.files
local lfs = require "lfs"
local fail = require "coursegen.fail"

local M = {}

local format = string.format

-- The C core (fsync, reads that refuse links, locks) is loaded on the first write, not at
-- load: `--help` and `validate` load this module but write nothing, and should not pay for
-- loading libcurl, OpenSSL and hiredis.
local function core() return require "coursegen.core" end

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

--- Reads a file coursegen wrote (a chapter, the manifest, the outline) back, never through
-- a symbolic link and only when it is a regular file: a link planted in an output folder
-- must not carry a secret into a prompt or an export.
-- @tparam string path
-- @tparam[opt] integer max a larger file is refused
-- @treturn ?string the contents
-- @treturn ?string why not, naming the file
-- @treturn ?string "missing", "link", "not a file", "too large" or "error"
function M.read_output(path, max)
  local text, err, why = core().read_regular(path, max)
  if why == "too large" then
    err = string.format("%s: file too large (more than %d MiB)", path, max // (1024 * 1024))
  end
  return text, err, why
end

--- What is at `path`, without following a link: "file", "directory", "link", another
-- `lfs` mode, or nil when nothing is there.
-- @tparam string path
-- @treturn ?string
function M.kind(path)
  return lfs.symlinkattributes(path, "mode")
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
M.TEMP_PATTERN = TEMP_PATTERN

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
-- `write` makes are touched; call it holding the folder's lock (`lock`), so no other run's
-- write is in progress.
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

-- Refuses to replace anything but a regular file: renaming over `/dev/stdout`, a link or a
-- folder would destroy what the user had there.
local function check_target(path)
  local mode = M.kind(path)
  if mode ~= nil and mode ~= "file" then
    fail.raise("io", "cannot write %s: it is a %s, not a regular file (coursegen replaces only regular files)",
      path, mode == "link" and "symbolic link" or mode)
  end
end

local function dir_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

--- Writes `data` to `path` atomically and durably: a temporary file in the same folder,
-- flushed to disk, renamed over `path`, then the folder flushed too (so after a power loss
-- the file is the old one or the new one, never empty). Only a regular file is replaced.
-- Raises an "io" failure (`coursegen.fail`).
-- @tparam string path
-- @tparam string data
-- @treturn true
function M.write(path, data)
  check_target(path)
  local tmp = M.temp_name(path)
  local f, err = io.open(tmp, "wb")
  if not f then
    -- io.open names the temporary file, which the user never asked for
    if err:sub(1, #tmp + 2) == tmp .. ": " then err = err:sub(#tmp + 3) end
    fail.raise("io", "cannot write %s: %s", path, tostring(err))
  end
  local ok, werr = f:write(data)
  if ok then ok, werr = f:flush() end
  if ok then ok, werr = core().fsync(f) end
  local cok, cerr = f:close()
  if ok and not cok then ok, werr = nil, cerr end
  if not ok then
    os.remove(tmp)
    fail.raise("io", "cannot write %s: %s", path, (tostring(werr):gsub("^fsync: ", "")))
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    fail.raise("io", "cannot write %s: %s", path, tostring(rerr))
  end
  local dok, derr = core().fsync_dir(dir_of(path))
  if not dok then fail.raise("io", "cannot write %s: %s", path, tostring(derr)) end
  return true
end

--- Keeps a copy of `path` as `path .. ".orig"` (a hard link: no byte is copied, and the
-- original stays in place until the new text is renamed over it). An older backup of
-- coursegen's own is replaced; anything else in the way is an "io" failure.
-- @tparam string path
-- @treturn string the backup's path
function M.backup(path)
  local orig = path .. ".orig"
  check_target(orig)
  if M.kind(orig) then os.remove(orig) end
  local ok, err = lfs.link(path, orig)
  if not ok then fail.raise("io", "cannot keep a backup of %s: %s", path, tostring(err)) end
  return orig
end

--- Takes the advisory lock that makes one run at a time write into folder `dir`; raises
-- a "busy" failure naming the other run's pid when it holds the lock.
-- @tparam string dir
-- @tparam string name the lock file's name inside `dir`
-- @return the lock: release it with `:release()` (or let it go out of scope)
function M.lock(dir, name)
  local lock, err, holder = core().lock(dir .. "/" .. name)
  if lock then return lock end
  if holder then
    fail.raise("busy", "another coursegen run (pid %s) is writing into %s; wait for it to finish, "
      .. "or choose another --out", holder > 0 and tostring(holder) or "unknown", dir)
  end
  fail.raise("io", "cannot lock %s: %s", dir, tostring(err))
end

return M
