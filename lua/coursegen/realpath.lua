--- Canonical paths: every symbolic link followed, `.` and `..` resolved, as realpath(3)
-- does, but in Lua over LuaFileSystem. Used to tell whether a file a course file names
-- really lies inside the course file's folder: `notes.md` may be a link to `~/.ssh/id_ed25519`.
-- @module coursegen.realpath
local lfs = require "lfs"

local M = {}

--- Most links followed while resolving one path (Linux's own limit is 40).
M.MAX_LINKS = 40

local function split(path, into)
  for part in path:gmatch("[^/]+") do into[#into + 1] = part end
  return into
end

--- The canonical absolute path of an existing file or folder.
-- @tparam string path absolute, or relative to the current folder
-- @treturn[1] string the path with no link, `.` or `..` left in it
-- @treturn[2] nil
-- @treturn[2] string why: a part is missing, or too many links
function M.resolve(path)
  if path:sub(1, 1) ~= "/" then path = lfs.currentdir() .. "/" .. path end
  local todo = split(path, {})
  -- the parts still to walk, last first, so a link's target is pushed in front cheaply
  local stack = {}
  for i = #todo, 1, -1 do stack[#stack + 1] = todo[i] end
  local done, links = {}, 0
  while #stack > 0 do
    local part = table.remove(stack)
    if part == ".." then
      done[#done] = nil
    elseif part ~= "." then
      local here = "/" .. table.concat(done, "/") .. (#done > 0 and "/" or "") .. part
      local mode = lfs.symlinkattributes(here, "mode")
      if not mode then return nil, here .. ": no such file or directory" end
      if mode == "link" then
        links = links + 1
        if links > M.MAX_LINKS then return nil, path .. ": too many symbolic links" end
        local target = lfs.symlinkattributes(here, "target")
        if not target then return nil, here .. ": cannot read the link" end
        if target:sub(1, 1) == "/" then done = {} end
        local parts = split(target, {})
        for i = #parts, 1, -1 do stack[#stack + 1] = parts[i] end
      else
        done[#done + 1] = part
      end
    end
  end
  return "/" .. table.concat(done, "/")
end

--- Whether `path` lies inside `dir` (or is `dir`), once both are canonical.
-- @tparam string path
-- @tparam string dir
-- @treturn[1] boolean
-- @treturn[2] nil
-- @treturn[2] string why one of them cannot be resolved
function M.inside(path, dir)
  local p, err = M.resolve(path)
  if not p then return nil, err end
  local d, derr = M.resolve(dir)
  if not d then return nil, derr end
  if d == "/" then return true end
  return p == d or p:sub(1, #d + 1) == d .. "/"
end

return M
