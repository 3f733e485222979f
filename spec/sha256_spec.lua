-- SHA-256 against the FIPS 180-4 / NIST example vectors, through the C core (libcrypto)
-- that coursegen.sha256 delegates to.
-- luacheck: std +busted
local sha256 = require "coursegen.sha256"
local core = require "coursegen.core"

describe("coursegen.sha256", function()
  local vectors = {
    { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs" ..
      "mnopqrstnopqrstu", "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
  }
  for _, v in ipairs(vectors) do
    it("hashes a " .. #v[1] .. "-byte message", function()
      assert.equal(v[2], sha256.hex(v[1]))
    end)
  end

  it("hashes one million 'a'", function()
    assert.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
      sha256.hex(string.rep("a", 1000000)))
  end)

  it("hashes every byte, NULs included, not a C string's prefix", function()
    assert.equal("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", sha256.hex("\0"))
    assert.equal("66a2256f272ef4528aa5f2685496a4412d81f1560ad6b1a16bec1560cf23c85d", sha256.hex("a\0b\0\0c"))
  end)

  it("handles every length around the padding boundary", function()
    -- 55, 56 and 64 bytes straddle the one-or-two padding blocks cases.
    assert.equal("9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318", sha256.hex(string.rep("a", 55)))
    assert.equal("b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a", sha256.hex(string.rep("a", 56)))
    assert.equal("ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb", sha256.hex(string.rep("a", 64)))
  end)

  it("returns the 32 raw bytes of the hex digest from digest", function()
    local d = sha256.digest("abc")
    assert.equal(32, #d)
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      (d:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
  end)

  it("is the C core's core.sha256", function()
    assert.is_function(core.sha256)
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", core.sha256("abc"))
    assert.has_error(function() core.sha256(1) end)
  end)

  it("raises on a non-string", function()
    assert.has_error(function() sha256.hex(1) end, "bad argument #1 to 'hex' (string expected, got number)")
    assert.has_error(function() sha256.digest({}) end, "bad argument #1 to 'digest' (string expected, got table)")
  end)
end)
