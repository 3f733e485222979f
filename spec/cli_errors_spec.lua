-- luacheck: std +busted
-- What the command line says when the user or the server got something wrong: an `--out`
-- that is a file, a redirect, a header of a megabyte, a key variable named but empty. Each
-- is a clear message with the right exit code, never a bare "Out of memory".
local helpers = require "helpers"
local loopback = require "support.loopback"
local rel = require "support.reliability"

-- Starts spec/support/raw_server.lua answering `requests` requests with `response`.
local function raw_server(dir, response, requests)
  helpers.writefile(dir .. "/response", response)
  return loopback.start(dir, "raw_server", dir .. "/response", requests)
end

describe("command-line errors", function()
  local dir, course

  before_each(function()
    dir = helpers.tmpdir()
    course = rel.course_file(dir .. "/course.json", 1, "Errors")
  end)
  after_each(function() helpers.rmtree(dir) end)

  it("--out naming an existing file exits 2, naming it", function()
    helpers.writefile(dir .. "/notes.txt", "mine\n")
    local r = rel.run(dir, { "generate", course, "--out", "notes.txt", "--base-url", "http://127.0.0.1:9" },
      { GEMINI_API_KEY = "k" })
    assert.equal(2, r.code, r.err)
    assert.matches("output folder notes.txt is a file, not a folder", r.err, 1, true)
    assert.equal("mine\n", helpers.readfile(dir .. "/notes.txt"))
  end)

  it("an --api-key-env whose variable is empty is an error, also on loopback", function()
    for _, env in ipairs { { MY_KEY = "" }, {} } do
      local r = rel.run(dir, { "generate", course, "--out", "o", "--base-url", "http://127.0.0.1:9",
                               "--api-key-env", "MY_KEY" }, env)
      assert.equal(2, r.code, r.err)
      assert.matches("MY_KEY (named by --api-key-env) is not set", r.err, 1, true)
    end
  end)

  it("exits 3 when the day's request quota (--rpd) is spent, saying what is left", function()
    local srv = require("coursegen.mock").start { port = 0 }
    local six = rel.course_file(dir .. "/six.json", 6, "Quota")
    local r = rel.run(dir, { "generate", six, "--out", "q", "--base-url", srv.url, "--rpd", "3",
                             "--concurrency", "1", "--no-progress" }, { GEMINI_API_KEY = "k" })
    srv:close()
    assert.equal(3, r.code, r.err)
    assert.matches("requests/day limit (rpd 3) is spent", r.err, 1, true)
    assert.truthy(r.err:find("are left", 1, true), r.err)
  end)

  it("reports a redirect with its Location, and does not follow it", function()
    local url = raw_server(dir, "HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/v1beta/x\r\n"
      .. "Content-Length: 0\r\nConnection: close\r\n\r\n", 1)
    if not url then return pending("needs LuaSocket") end
    local r = rel.run(dir, { "generate", course, "--out", "o", "--base-url", url, "--max-attempts", "1",
                             "--no-progress" }, { GEMINI_API_KEY = "k" })
    assert.equal(1, r.code, r.err)
    assert.matches("HTTP 302 (empty body); redirected to https://elsewhere.example/v1beta/x", r.err, 1, true)
  end)

  it("reports a 1 MB response header as such, not as out of memory", function()
    local url = raw_server(dir, "HTTP/1.1 200 OK\r\nX-Big: " .. ("a"):rep(1024 * 1024)
      .. "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 1)
    if not url then return pending("needs LuaSocket") end
    local r = rel.run(dir, { "generate", course, "--out", "o", "--base-url", url, "--max-attempts", "1",
                             "--no-progress" }, { GEMINI_API_KEY = "k" })
    assert.equal(1, r.code, r.err)
    assert.matches("a response header line longer than 102400 bytes", r.err, 1, true)
    assert.not_matches("Out of memory", r.err, 1, true)
  end)
end)
