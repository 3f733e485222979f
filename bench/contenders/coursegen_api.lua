-- coursegen through its Lua API: requests.tsv streamed through `engine.map`, which keeps
-- a bounded window of requests in flight (memory stays flat whatever N is) and yields the
-- results in submission order, so each answer is written as soon as its turn comes.
--
-- Usage: lua5.4 coursegen_api.lua --url U --requests FILE --out FILE --concurrency C
--                                 --rpm R --tpm T [--ca-file PEM]    (0: no limit)
local engine = require "coursegen.engine"
local cjson = require "cjson.safe"

local PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
local HEADERS = { "Content-Type: application/json" }

local args = {}
for i = 1, #arg, 2 do args[arg[i]:gsub("^%-%-", "")] = arg[i + 1] end
local rpm, tpm = tonumber(args.rpm) or 0, tonumber(args.tpm) or 0
local url = args.url .. PATH

-- The first non-empty line of a Gemini answer's text, or nil when the body is not one.
local function first_line(body)
  local doc = cjson.decode(body or "")
  local ok, text = pcall(function() return doc.candidates[1].content.parts[1].text end)
  if not ok or type(text) ~= "string" then return nil end
  return text:match("[^\n]*%S[^\n]*") or ""
end

local input = assert(io.open(args.requests))
local lines = input:lines()
local rids = setmetatable({}, { __mode = "k" })   -- request -> its id in requests.tsv
local function requests()
  local line = lines()
  if not line then return nil end
  local rid, tokens, body = line:match("^(%d+)\t(%d+)\t(.*)$")
  local req = { url = url, method = "POST", headers = HEADERS, body = body, tokens = tonumber(tokens) }
  rids[req] = rid
  return req
end

local out = assert(io.open(args.out, "w"))
local options = { concurrency = tonumber(args.concurrency),
                  rpm = rpm > 0 and rpm or nil, tpm = tpm > 0 and tpm or nil,
                  ca_file = args["ca-file"] }
for r, req in engine.map(options, requests) do
  local text = r.status == 200 and first_line(r.body)
  out:write(rids[req], "\t", text or ("error: " .. tostring(r.error or r.status)), "\n")
end
out:close()
input:close()
