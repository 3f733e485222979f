--- The output folder: whose it is, who writes into it now, and what may never be written.
-- coursegen writes only into a folder it owns: one that is empty (or missing), or one that
-- holds its manifest. Anything else is refused before a request is sent, so a user's
-- README.md or course file is never replaced. One run at a time holds the folder's lock.
-- @module coursegen.outdir
local lfs = require "lfs"
local fail = require "coursegen.fail"
local files = require "coursegen.files"
local manifest = require "coursegen.manifest"

local M = {}

local format = string.format

--- The lock file's name inside an output folder (kept between runs: removing a lock file
-- while another process waits on it would let two runs in).
M.LOCK = ".coursegen.lock"

--- Names coursegen always writes into its folder, besides the chapters.
M.FIXED = { "course.json", "README.md", "outline.json" }

-- Names that are coursegen's own even in a folder without a manifest: its lock, and the
-- temporary files of a write a killed run did not finish.
local function own_leftover(name)
  return name == M.LOCK or name:match(files.TEMP_PATTERN) ~= nil
end

local function names_in(dir)
  local out = {}
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." and not own_leftover(name) then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

-- The file a refused run would have destroyed: one of the names it writes, if present.
local function would_be_lost(present, writes)
  local here = {}
  for _, name in ipairs(present) do here[name] = true end
  for _, name in ipairs(writes) do
    if here[name] then return name end
  end
  return nil
end

--- Refuses, before anything is sent or written, an output folder coursegen does not own.
-- @tparam string dir the output folder
-- @tparam[opt] {string,...} writes file names the run is known to write (chapters given by
--   the course), to name the one that would be lost
-- @tparam[opt] string hint a sub-folder to suggest
-- @treturn ?table the folder's manifest, when it holds one
function M.check(dir, writes, hint)
  local mode = lfs.attributes(dir, "mode")
  if mode == nil then return nil end
  if mode ~= "directory" then
    fail.raise("input", "output folder %s is a %s, not a folder: choose another output folder", dir,
      mode == "file" and "file" or mode)
  end
  local present = names_in(dir)
  if #present == 0 then return nil end
  local m = manifest.read(dir .. "/" .. manifest.FILE)
  if m then return m end
  local all = {}
  for _, n in ipairs(M.FIXED) do all[#all + 1] = n end
  for _, n in ipairs(writes or {}) do all[#all + 1] = n end
  local lost = would_be_lost(present, all)
  local suggest = format("choose an empty folder or a sub-folder (for example %s/%s)", dir == "/" and "" or dir,
    hint or "course")
  if lost then
    fail.raise("input", "output folder %s holds files coursegen did not write: %s/%s would be replaced; %s",
      dir, dir, lost, suggest)
  end
  fail.raise("input", "output folder %s holds files coursegen did not write (%s%s) and no coursegen manifest; "
    .. "coursegen writes only into an empty folder or one it wrote before: %s", dir, present[1],
    #present > 1 and format(" and %d more", #present - 1) or "", suggest)
end

--- Takes the folder for this run: creates it, locks it (a second run stops at once, naming
-- this one's pid), and writes an empty manifest into a new folder, so a run killed before
-- its first chapter leaves a folder the next run recognises as coursegen's.
-- @tparam string dir
-- @tparam table head `{title, provider, model, server}` for the first manifest
-- @return the lock (release with `:release()`)
function M.claim(dir, head)
  files.mkdir_p(dir)
  local lock = files.lock(dir, M.LOCK)
  local path = dir .. "/" .. manifest.FILE
  if not files.kind(path) then
    manifest.write(path, { title = head.title, provider = head.provider, model = head.model,
                           server = head.server, chapters = {} })
  end
  return lock
end

--- Refuses a run whose inputs (the course file, the source document) would be among its
-- outputs: compared by device and inode, so another spelling of the same path is caught.
-- @tparam string dir the output folder
-- @tparam {string,...} names file names the run writes in `dir`
-- @tparam {[string]=string} inputs path -> what it is ("the course file", "the source")
function M.check_inputs(dir, names, inputs)
  local ids = {}
  for path, what in pairs(inputs) do
    local a = lfs.attributes(path)
    if a then ids[a.dev .. ":" .. a.ino] = { path = path, what = what } end
  end
  if next(ids) == nil then return end
  for _, name in ipairs(names) do
    local a = lfs.attributes(dir .. "/" .. name)
    local hit = a and ids[a.dev .. ":" .. a.ino]
    if hit then
      fail.raise("input", "%s %s is also an output of this run (%s/%s): move it out of the output folder, "
        .. "or choose another output folder", hit.what, hit.path, dir, name)
    end
  end
end

--- A server's address as the manifest records it: no user name, password or query (a key
-- must never land in a file).
-- @tparam string url
-- @treturn string
function M.server(url)
  url = tostring(url or "")
  url = url:gsub("^(%a[%w+.-]*://)[^/@]*@", "%1"):gsub("[?#].*$", ""):gsub("/+$", "")
  return url
end

--- Refuses to mix models in one course: a folder written by another provider, model or
-- server is regenerated only with `force`.
-- @tparam ?table old the folder's manifest
-- @tparam table s settings (`provider`, `model`, `base_url`, `force`)
-- @tparam string dir
function M.check_same_writer(old, s, dir)
  if not old or s.force then return end
  local done = 0
  for _, e in ipairs(old.chapters) do
    if type(e) == "table" and e.status == "done" then done = done + 1 end
  end
  if done == 0 then return end
  local now = { provider = s.provider, model = s.model, server = M.server(s.base_url) }
  local differs = {}
  for _, k in ipairs { "provider", "model", "server" } do
    local was = old[k]
    if type(was) == "string" and was ~= now[k] then differs[#differs + 1] = k end
  end
  if #differs == 0 then return end
  fail.raise("input", "%s: %d chapter%s written by %s %s at %s, and this run uses %s %s at %s "
    .. "(another %s); coursegen does not mix them in one course: add --force to regenerate every chapter "
    .. "with %s (chapters edited by hand are kept as .orig backups), or choose another output folder",
    dir, done, done == 1 and " was" or "s were", tostring(old.provider), tostring(old.model),
    tostring(old.server or "?"), now.provider, now.model, now.server, table.concat(differs, ", "), now.model)
end

return M
