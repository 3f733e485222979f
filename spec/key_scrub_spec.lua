-- luacheck: std +busted
-- Keys are masked before a message is cut: a server that quotes the key past the length
-- kept for display must not leave its tail behind, and key-shaped words the run never had
-- (a gateway's own key) are masked too.
local helpers = require "helpers"
local loopback = require "support.loopback"
local scrub = require "coursegen.scrub"

describe("scrub", function()
  it("masks the exact keys given, every time they occur", function()
    assert.equal("a [api key] b [api key]", scrub.scrub("a s3cr3t-value b s3cr3t-value", { "s3cr3t-value" }))
  end)

  it("masks what is left of a key that something cut in half", function()
    local key = "tok-0123456789abcdefghijklmnop"
    assert.equal("HTTP 400: key=[api key]…", scrub.scrub("HTTP 400: key=" .. key:sub(1, 20) .. "…", { key }))
    assert.equal("…[api key] rest", scrub.scrub("…" .. key:sub(-12) .. " rest", { key }))
    assert.equal("tok-012 is too short to tell", scrub.scrub("tok-012 is too short to tell", { key }))
  end)

  it("masks Google and OpenAI key shapes it was not given", function()
    local google = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"
    local openai = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl"
    assert.equal("x [api key] y [api key].", scrub.scrub("x " .. google .. " y " .. openai .. "."))
  end)

  it("leaves short look-alikes and words that merely contain the shape alone", function()
    for _, s in ipairs { "use sk-learn here", "AIza is short", "task-abcdefghijklmnopqrstuvwxyz", "ab" } do
      assert.equal(s, scrub.scrub(s, { "ab" }))
    end
    assert.is_nil(scrub.scrub(nil))
  end)
end)

describe("#slow keys reflected far into an error message", function()
  local tmp

  before_each(function() tmp = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(tmp) end)

  local function strings(v, out)
    out = out or {}
    if type(v) == "table" then
      for k, x in pairs(v) do strings(k, out) strings(x, out) end
    elseif v ~= nil then
      out[#out + 1] = tostring(v)
    end
    return out
  end

  it("leaves no part of the key in results, events, the manifest or a message", function()
    local url = loopback.start(tmp, "reflect_server", 2, 575) -- the key starts 580 bytes in; 600 are kept
    if not url then return pending("needs LuaSocket for the reflecting server") end
    local coursegen = require "coursegen"
    -- not shaped like any provider's key: only exact matching can catch it
    local KEY = "zq" .. ("%x"):format(os.time()) .. "-private-token-for-spec-0123456789"
    local seen = {}
    local course = assert(coursegen.course { title = "Echo", chapters = { "Only" } })
    for run = 1, 2 do
      local a, b, c = coursegen.generate(course, {
        base_url = url, api_key = KEY, out = tmp .. "/o" .. run, max_attempts = 1, env = {},
        on_event = function(ev) seen[#seen + 1] = ev end,
      })
      seen[#seen + 1] = { a, b, c }
      seen[#seen + 1] = helpers.readfile(tmp .. "/o" .. run .. "/course.json") or ""
    end
    local all = table.concat(strings(seen), "\n")
    assert.truthy(all:find("Request rejected", 1, true), all)
    assert.truthy(all:find("HTTP 400", 1, true), all)
    for i = 1, #KEY - 11 do
      local piece = KEY:sub(i, i + 11)
      assert.is_nil(all:find(piece, 1, true), ("a piece of the key was kept: %q"):format(piece))
    end
    assert.is_nil(all:find("AIzaSyD-foreign", 1, true), "the gateway's key was kept")
  end)
end)
