-- luacheck: std +busted
-- A shared course file is a document, not a program holding the user's keys: it cannot say
-- where the key is read from or sent, cannot reach a document outside its own folder, and
-- no key travels over plain http:// to another machine. Real files, links and processes.
local helpers = require "helpers"
local json = require "coursegen.json"
local lib = require "coursegen.settings"
local cli_course = require "coursegen.cli.course"
local cli_settings = require "coursegen.cli.settings"
local realpath = require "coursegen.realpath"
local rel = require "support.reliability"

local function q(s) return rel.q(s) end

describe("a course file", function()
  local dir

  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(dir) end)

  local function course(t, name)
    local path = dir .. "/" .. (name or "course.json")
    helpers.writefile(path, json.encode(t))
    return path
  end

  local FLAGS = { base_url = "--base-url", api_key_env = "--api-key-env", api_key_file = "--api-key-file",
                  ca_file = "--ca-file", limiter = "--limiter" }
  local VALUES = { base_url = "https://collector.example", api_key_env = "GITHUB_TOKEN",
                   api_key_file = "~/.git-credentials", ca_file = "/etc/ssl/evil.pem",
                   limiter = "redis://127.0.0.1:6379/0?key=x" }

  for key, flag in pairs(FLAGS) do
    it("may not set options." .. key .. ": the message names " .. flag, function()
      local path = course { title = "T", chapters = { "A" }, options = { [key] = VALUES[key] } }
      local c, err = cli_course.build { course_file = path }
      assert.is_nil(c)
      assert.equal(path .. ": options." .. key .. " is not allowed in a course file: where your API key is "
        .. "read from and sent is your choice, not a shared file's; pass " .. flag .. " on the command line, "
        .. "or set " .. key .. " in your user config file", err)
    end)
  end

  it("is refused by validate too, with exit 2, before anything is read from the environment", function()
    local path = course { title = "T", chapters = { "A" }, options = { ["api-key-env"] = "GITHUB_TOKEN" } }
    local r = rel.run(dir, { "validate", path }, { GITHUB_TOKEN = "ghp_secret", XDG_CONFIG_HOME = dir .. "/none" })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("options.api_key_env is not allowed in a course file", 1, true), r.err)
    assert.is_nil(r.err:find("ghp_secret", 1, true))
  end)

  it("keeps the settings that are not about trust (model, limits, temperature, out)", function()
    local path = course { title = "T", chapters = { "A" },
                          options = { model = "m", rpm = 7, temperature = 0.2, out = "o" } }
    local c, fo = cli_course.build { course_file = path }
    assert.truthy(c, fo)
    assert.same({ model = "m", rpm = 7, temperature = 0.2, out = "o" }, fo)
  end)

  describe("source", function()
    local outside

    before_each(function()
      outside = helpers.tmpdir()
      helpers.writefile(outside .. "/id_ed25519", "PRIVATE KEY")
      helpers.writefile(outside .. "/notes.txt", "Notes kept elsewhere")
      assert(os.execute("mkdir -p " .. q(dir .. "/c/docs")))
      helpers.writefile(dir .. "/c/docs/notes.md", "# Notes\n")
    end)
    after_each(function() helpers.rmtree(outside) end)

    local function build(src, args)
      helpers.writefile(dir .. "/c/course.json", json.encode { title = "T", chapters = { "A" }, source = src })
      args = args or {}
      args.course_file = dir .. "/c/course.json"
      return cli_course.build(args)
    end

    it("is read beside the course file, in a sub-folder or through a link that stays inside", function()
      assert.truthy(build("docs/notes.md"))
      assert(os.execute("ln -s docs/notes.md " .. q(dir .. "/c/link.md")))
      assert.truthy(build("link.md"))
      assert.truthy(build(dir .. "/c/docs/notes.md")) -- absolute, but inside
    end)

    it("may not climb out of the folder with ..", function()
      -- the course is in DIR/c, DIR and OUTSIDE are both in /tmp
      local c, err = build("../../" .. outside:match("[^/]+$") .. "/id_ed25519")
      assert.is_nil(c)
      assert.truthy(err:find("is outside the course file's folder", 1, true), err)
      assert.truthy(err:find("pass --source FILE on the command line", 1, true), err)
    end)

    it("may not name an absolute path elsewhere", function()
      local c, err = build(outside .. "/id_ed25519")
      assert.is_nil(c)
      assert.truthy(err:find(dir .. "/c/course.json: source: " .. outside .. "/id_ed25519 is outside", 1, true), err)
    end)

    it("may not follow a link planted beside it, nor a linked folder", function()
      assert(os.execute("ln -s " .. q(outside .. "/id_ed25519") .. " " .. q(dir .. "/c/notes.md")))
      local c, err = build("notes.md")
      assert.is_nil(c)
      assert.truthy(err:find("is outside the course file's folder", 1, true), err)
      assert(os.execute("ln -s " .. q(outside) .. " " .. q(dir .. "/c/more")))
      c, err = build("more/id_ed25519")
      assert.is_nil(c)
      assert.truthy(err:find("is outside the course file's folder", 1, true), err)
    end)

    it("is the user's choice with --source on the command line", function()
      local c = assert(build(outside .. "/id_ed25519", { source = outside .. "/notes.txt" }))
      assert.equal(outside .. "/notes.txt", c.source)
    end)

    it("is confined for coursegen.load as well", function()
      helpers.writefile(dir .. "/c/course.json", json.encode { title = "T", source = outside .. "/id_ed25519" })
      local c, err, kind = require("coursegen").load(dir .. "/c/course.json")
      assert.is_nil(c)
      assert.equal("input", kind)
      assert.truthy(err:find("is outside the course file's folder", 1, true), err)
    end)
  end)
end)

describe("coursegen.realpath", function()
  it("follows links, relative and absolute, and resolves .. after them", function()
    local dir = helpers.tmpdir()
    assert(os.execute("mkdir -p " .. q(dir .. "/a/b") .. " && ln -s a/b " .. q(dir .. "/lb")
      .. " && ln -s " .. q(dir .. "/a") .. " " .. q(dir .. "/la") .. " && touch " .. q(dir .. "/a/f")))
    local real = assert(realpath.resolve(dir))
    assert.equal(real .. "/a/b", realpath.resolve(dir .. "/lb"))
    assert.equal(real .. "/a/f", realpath.resolve(dir .. "/lb/../f"))   -- .. after the link: a/b/.. = a
    assert.equal(real .. "/a/f", realpath.resolve(dir .. "/la/./f"))
    assert.is_nil((realpath.resolve(dir .. "/missing")))
    assert(os.execute("ln -s loop1 " .. q(dir .. "/loop2") .. " && ln -s loop2 " .. q(dir .. "/loop1")))
    local p, err = realpath.resolve(dir .. "/loop1")
    assert.is_nil(p)
    assert.truthy(err:find("too many symbolic links", 1, true))
    assert.is_true(realpath.inside(dir .. "/lb", dir .. "/a"))
    assert.is_false(realpath.inside(dir .. "/a", dir .. "/a/b"))
    helpers.rmtree(dir)
  end)
end)

describe("the API key over plain http://", function()
  local course = { title = "Keys" }
  local function attach(opts)
    return lib.attach_key(lib.resolve(course, opts))
  end

  it("is never sent to another machine when the user named it", function()
    for _, opts in ipairs {
      { base_url = "http://192.0.2.7:8080/v1", provider = "openai", api_key = "sk-named" },
      { base_url = "http://llm.example/v1", api_key_env = "MY_KEY", env = { MY_KEY = "sk-named" } },
    } do
      local ok, err = pcall(attach, opts)
      assert.is_false(ok)
      assert.equal("input", err.kind)
      assert.truthy(err.msg:find("will not send the API key %(from [%w_]+%) over plain http:// to "), err.msg)
      assert.truthy(err.msg:find("use an https:// URL, or a server on this machine", 1, true))
    end
  end)

  it("is left out when it only sits in the provider's usual variable", function()
    local s = attach { base_url = "http://192.0.2.7:8080/v1", provider = "openai", env = { OPENAI_API_KEY = "sk-x" } }
    assert.is_nil(s.api_key)
    local req = s.provider_mod.request({ base_url = s.base_url, model = s.model, api_key = s.api_key },
      { prompt = "p" })
    for _, h in ipairs(req.headers) do assert.is_nil(h:find("sk-x", 1, true)) end
  end)

  it("goes to this machine over http, and anywhere over https", function()
    assert.equal("k", attach { base_url = "http://127.0.0.1:9", api_key = "k" }.api_key)
    assert.equal("k", attach { base_url = "http://localhost:9/v1", api_key = "k" }.api_key)
    assert.equal("k", attach { base_url = "http://[::1]:9", api_key = "k" }.api_key)
    assert.equal("k", attach { base_url = "https://proxy.example", api_key = "k" }.api_key)
  end)

  it("named by --api-key-env must be set, even for a server on this machine", function()
    local ok, err = pcall(attach, { base_url = "http://127.0.0.1:9", api_key_env = "MY_KEY", env = { MY_KEY = "" } })
    assert.is_false(ok)
    assert.equal("auth", err.kind)
    assert.equal("no API key: the variable MY_KEY (named by --api-key-env) is not set", err.msg)
  end)

  it("must be one header value: no newline, NUL or space inside, whatever its source", function()
    for _, opts in ipairs {
      { api_key = "sk-a\r\nX-Injected: 1" },
      { api_key_env = "MY_KEY", env = { MY_KEY = "sk-a b" } },
      { api_key_file = "/dev/zero" },
    } do
      opts.base_url = "http://127.0.0.1:9"
      local ok, err = pcall(attach, opts)
      assert.is_false(ok)
      assert.equal("auth", err.kind)
      assert.truthy(err.msg:find("is not a key: it must be printable ASCII without spaces", 1, true), err.msg)
      assert.is_nil(err.msg:find("Injected", 1, true))
    end
  end)

  it("stops the command before anything is written, exit 2", function()
    local s, err = cli_settings.resolve(course, { base_url = "http://10.0.0.5:11434/v1", api_key_env = "MY_KEY" },
      { env = function(n) return ({ MY_KEY = "sk-lan" })[n] end, config = {}, need_key = true })
    assert.is_nil(s)
    assert.truthy(err:find("will not send the API key (from MY_KEY) over plain http:// to 10.0.0.5", 1, true), err)
    assert.is_nil(err:find("sk-lan", 1, true))
  end)
end)
