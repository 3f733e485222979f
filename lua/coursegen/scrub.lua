--- Keeps API keys out of messages: the exact keys of the run, and anything shaped like a
-- provider key (a server may echo another key, or a proxy its own). Scrub a text before it
-- is cut for display: a key cut in half no longer matches, and its tail would stay.
-- @module coursegen.scrub
local M = {}

local type, tostring, ipairs = type, tostring, ipairs

--- What a key is replaced with.
M.MASK = "[api key]"

-- Key shapes: Google API keys (`AIza` + 35 characters) and OpenAI-style secret keys
-- (`sk-`, `sk-proj-`, ...). The frontier keeps the shape from matching inside a word, and
-- the length floor keeps short words such as "sk-learn" readable.
local SHAPES = {
  { pattern = "%f[%w]AIza[%w_%-]+", min = 30 },
  { pattern = "%f[%w]sk%-[%w_%-]+", min = 20 },
}

-- Bytes a remnant of a key must have to be masked: a cut key is no secret below this.
local REMNANT = 8

-- Masks `key`, and what is left of it where something cut the text mid-key before it
-- reached us (the engine keeps a few hundred bytes of an error body): any run of at least
-- REMNANT bytes (the whole key, when shorter) that starts like the key or ends like it.
local function mask_key(msg, key)
  local run = math.min(#key, REMNANT)
  local head, tail = key:sub(1, run), key:sub(-run)
  local out, i = {}, 1
  while i <= #msg do
    local a = msg:find(head, i, true)
    local b = msg:find(tail, i, true)
    if not a and not b then break end
    local s, e
    if a and (not b or a <= b) then
      s, e = a, a + run - 1
      while e < #msg and e - s + 1 < #key and msg:byte(e + 1) == key:byte(e - s + 2) do e = e + 1 end
    else
      s, e = b, b + run - 1
      local k = #key - run
      while s > i and k > 0 and msg:byte(s - 1) == key:byte(k) do s, k = s - 1, k - 1 end
    end
    out[#out + 1] = msg:sub(i, s - 1)
    out[#out + 1] = M.MASK
    i = e + 1
  end
  if i == 1 then return msg end
  out[#out + 1] = msg:sub(i)
  return table.concat(out)
end

--- `msg` with every key in `keys`, every remnant of one cut by a truncation (8 bytes or
-- more of its start or end), and every key-shaped word replaced by `[api key]`.
-- @param msg a message (nil passes through; anything else is converted with tostring)
-- @tparam[opt] table keys the exact secrets to remove (strings shorter than 4 bytes are
--   ignored: masking "ab" everywhere would garble the message and reveal nothing)
-- @treturn ?string
function M.scrub(msg, keys)
  if msg == nil then return nil end
  msg = tostring(msg)
  for _, k in ipairs(keys or {}) do
    if type(k) == "string" and #k >= 4 then msg = mask_key(msg, k) end
  end
  for _, s in ipairs(SHAPES) do
    msg = msg:gsub(s.pattern, function(m)
      if #m >= s.min then return M.MASK end
    end)
  end
  return msg
end

return M
