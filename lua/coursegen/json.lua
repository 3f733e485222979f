--- JSON for coursegen: decoding through lua-cjson, and a readable, stable encoder.
-- cjson decodes every number as a float and JSON `null` as a sentinel; `decode` turns
-- integral numbers back into integers and drops nulls, so callers see plain Lua values.
-- `pretty` writes objects with a chosen key order (the manifest reads in the order the README documents it).
-- @module coursegen.json
local cjson = require "cjson.safe"

local M = {}

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local mtype, tointeger = math.type, math.tointeger
local concat, sort, find = table.concat, table.sort, string.find

--- Metatable marking a table as a JSON array (so an empty one encodes as `[]`).
M.array_mt = { __name = "json.array" }

--- Marks `t` as an array and returns it.
-- @tparam table t
-- @treturn table t
function M.array(t)
  return setmetatable(t or {}, M.array_mt)
end

local null = cjson.null

--- A value that encodes as JSON `null` (a Lua nil would drop the key).
M.null = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end })

local function normalize(v)
  if mtype(v) == "float" then
    return tointeger(v) or v
  elseif v == null then
    return nil
  elseif type(v) == "table" then
    local n = #v
    local out = {}
    for k, x in pairs(v) do out[k] = normalize(x) end
    if n > 0 then setmetatable(out, M.array_mt) end
    return out
  end
  return v
end

--- Decodes a JSON text.
-- @tparam string s
-- @return the value, or `nil, message` when `s` is not valid JSON
function M.decode(s)
  if type(s) ~= "string" then return nil, "not a string" end
  local v, err = cjson.decode(s)
  if v == nil and err then return nil, err end
  return normalize(v)
end

-- Decoders that refuse nesting past a depth, by depth: a file of ours is a few levels
-- deep, and a hostile one 900 levels deep must stop at the reader, not deep in the program.
local bounded = {}

--- Decodes a JSON text that may nest at most `max_depth` arrays and objects deep.
-- @tparam string s
-- @tparam integer max_depth
-- @return the value, or `nil, message` (cjson's "Found too many nested data structures")
function M.decode_limited(s, max_depth)
  if type(s) ~= "string" then return nil, "not a string" end
  local dec = bounded[max_depth]
  if not dec then
    dec = cjson.new()
    dec.decode_max_depth(max_depth)
    bounded[max_depth] = dec
  end
  local v, err = dec.decode(s)
  if v == nil and err then return nil, err end
  return normalize(v)
end

local function is_array(t)
  if getmetatable(t) == M.array_mt then return true end
  if next(t) == nil then return false end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if mtype(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local ulen = utf8.len
local REPLACEMENT = "\u{FFFD}"

--- Replaces every byte that is not part of valid UTF-8 with U+FFFD.
-- JSON text must be UTF-8, and cjson copies bytes through unchecked: a model's answer (or a
-- server's error body quoted in a message) with invalid bytes would make the manifest
-- unreadable to strict parsers. Valid text comes back unchanged (the common, fast case).
-- @tparam string s
-- @treturn string
function M.utf8_clean(s)
  if ulen(s) then return s end
  local out, i = {}, 1
  while true do
    local n, bad = ulen(s, i)
    if n then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = REPLACEMENT
    i = bad + 1
  end
  return concat(out)
end

local function scalar(v)
  local tv = type(v)
  if tv == "string" then
    -- cjson escapes "/" as "\/"; undo it so paths in the manifest read naturally. gsub
    -- copies the whole string even when nothing matches, and request bodies carry 50 KB
    -- prompts: look first.
    local e = cjson.encode(M.utf8_clean(v))
    if find(e, "\\/", 1, true) then e = e:gsub("\\/", "/") end
    return e
  elseif tv == "number" then
    if mtype(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.14g", v)
  elseif tv == "boolean" then
    return tostring(v)
  elseif v == nil or v == M.null then
    return "null"
  end
  error("cannot encode a " .. tv .. " as JSON", 3)
end

-- Rank of each key of an order list (its first position), built once per encoding.
local function ranks(order)
  local rank = {}
  for i, k in ipairs(order or {}) do rank[k] = rank[k] or i end
  return rank
end

local function ordered_keys(t, rank)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("cannot encode a table with a " .. type(k) .. " key as JSON object", 4) end
    keys[#keys + 1] = k
  end
  sort(keys, function(a, b)
    local ra, rb = rank[a], rank[b]
    if ra and rb then return ra < rb end
    if ra or rb then return ra ~= nil end
    return a < b
  end)
  return keys
end

-- Metatable of the fragments `raw` makes.
local raw_mt = { __name = "json.raw" }

--- Wraps JSON text that is already encoded, so the encoders copy it through as a value.
-- With `pretty`, the text must be what `pretty_fragment` wrote at the depth where it goes.
-- @tparam string text
-- @treturn table
function M.raw(text)
  return setmetatable({ text = text }, raw_mt)
end

-- `st` is one encoding's state: rank (of the order list), indent, and keys (a memo of
-- encoded object keys, which repeat in every object of a document).
local function encode(v, st, depth, out)
  if type(v) ~= "table" or v == M.null then
    out[#out + 1] = scalar(v)
    return
  end
  if getmetatable(v) == raw_mt then
    out[#out + 1] = v.text
    return
  end
  if depth > 64 then error("JSON value nested too deeply", 3) end
  local indent = st.indent
  local pad = indent and ("\n" .. string.rep(indent, depth + 1)) or ""
  local close = indent and ("\n" .. string.rep(indent, depth)) or ""
  if is_array(v) then
    local n = #v
    if n == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "["
    local sep = "," .. pad
    for i = 1, n do
      local x = v[i]
      out[#out + 1] = i > 1 and sep or pad
      -- Inline for fragments: the manifest's chapter list is hundreds of them per write.
      if type(x) == "table" and getmetatable(x) == raw_mt then
        out[#out + 1] = x.text
      else
        encode(x, st, depth + 1, out)
      end
    end
    out[#out + 1] = close .. "]"
    return
  end
  local keys = ordered_keys(v, st.rank)
  if #keys == 0 then out[#out + 1] = "{}" return end
  local colon = indent and ": " or ":"
  local memo = st.keys
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    local ek = memo[k]
    if not ek then ek = scalar(k) .. colon; memo[k] = ek end
    out[#out + 1] = (i > 1 and "," or "") .. pad .. ek
    encode(v[k], st, depth + 1, out)
  end
  out[#out + 1] = close .. "}"
end

--- Encodes a value as compact JSON.
-- @param v a string, number, boolean or table
-- @treturn string
function M.encode(v)
  local out = {}
  encode(v, { rank = {}, keys = {} }, 0, out)
  return concat(out)
end

--- Encodes a value as indented JSON (two spaces) with a final newline.
-- @param v the value
-- @tparam[opt] {string,...} order keys listed here come first, in this order, at every level;
--   other keys follow in alphabetical order
-- @treturn string
function M.pretty(v, order)
  local out = {}
  encode(v, { rank = ranks(order), indent = "  ", keys = {} }, 0, out)
  out[#out + 1] = "\n"
  return concat(out)
end

--- The text `pretty` writes for `v` when `v` sits `depth` levels deep in the document
-- (0: the top), without the final newline: a piece to wrap with `raw`, so that a value
-- that does not change is encoded once for many documents.
-- @param v the value
-- @tparam[opt] {string,...} order as for `pretty`
-- @tparam integer depth
-- @treturn string
function M.pretty_fragment(v, order, depth)
  local out = {}
  encode(v, { rank = ranks(order), indent = "  ", keys = {} }, depth, out)
  return concat(out)
end

return M
