--- SHA-256 (FIPS 180-4), computed by the C core through OpenSSL's libcrypto.
-- Used for the manifest's `prompt_sha256` and `sha256` fields. Chapter prompts each carry
-- the whole outline, so a large course hashes tens of megabytes per run: too slow in Lua.
-- @module coursegen.sha256
local core = require "coursegen.core"

local M = {}

local sformat, schar, tonumber, type = string.format, string.char, tonumber, type
local c_sha256 = core.sha256

--- The digest as 64 lower-case hexadecimal characters.
-- @tparam string msg
-- @treturn string
function M.hex(msg)
  if type(msg) ~= "string" then
    error(sformat("bad argument #1 to 'hex' (string expected, got %s)", type(msg)), 2)
  end
  return c_sha256(msg)
end

--- The raw 32-byte digest of a string.
-- @tparam string msg
-- @treturn string 32 bytes
function M.digest(msg)
  if type(msg) ~= "string" then
    error(sformat("bad argument #1 to 'digest' (string expected, got %s)", type(msg)), 2)
  end
  return (c_sha256(msg):gsub("%x%x", function(h) return schar(tonumber(h, 16)) end))
end

return M
