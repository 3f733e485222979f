#!/usr/bin/env bash
# Rewrites coursegen-dev-1.rockspec's module list from the tree. LuaRocks' builtin
# backend wants every module named; spec/rockspec_spec.lua fails when the two drift.
set -euo pipefail
cd "$(dirname "$0")/.."
csources() { find "$@" -name '*.c' | sort | sed 's/.*/        "&",/'; }
{
cat <<'HEAD'
rockspec_format = "3.0"
package = "coursegen"
version = "dev-1"
source = {
  url = "git+https://github.com/coursegen/coursegen.git",
}
description = {
  summary = "Generate whole courses with an LLM, fast and within rate limits",
  detailed = [[
coursegen turns a course file, a topic or a document into an outline and a folder of
Markdown chapters written by Google Gemini or any OpenAI-compatible server. Its C core
sends the requests in parallel within requests/min and tokens/min limits, retries with
backoff that honours the server's hints, and delivers results in order; a run resumes
where it stopped. A mock LLM server is bundled for offline tests.
]],
  homepage = "https://github.com/coursegen/coursegen",
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson >= 2.1",
  "argparse >= 0.7",
  "luafilesystem >= 1.8",
  "luasystem >= 0.2",
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
  HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
  UTF8PROC = { header = "utf8proc.h", library = "utf8proc" },
}
test_dependencies = { "busted >= 2.1" }
test = { type = "busted" }
build = {
  type = "builtin",
  modules = {
    ["coursegen.core"] = {
      sources = {
HEAD
csources csrc -maxdepth 1
cat <<'MID'
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "csrc", "$(CURL_INCDIR)", "$(HIREDIS_INCDIR)", "$(OPENSSL_INCDIR)", "$(UTF8PROC_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(HIREDIS_LIBDIR)", "$(OPENSSL_LIBDIR)", "$(UTF8PROC_LIBDIR)" },
      libraries = { "curl", "hiredis", "crypto", "utf8proc", "pthread", "m" },
    },
    ["coursegen.mockserver"] = {
      sources = {
MID
csources csrc/mock
cat <<'MID2'
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "csrc", "csrc/mock" },
      libraries = { "pthread", "m" },
    },
MID2
find lua -name '*.lua' | sort | while read -r f; do
  m=${f#lua/}; m=${m%.lua}; m=${m%/init}; m=${m//\//.}
  printf '    ["%s"] = "%s",\n' "$m" "$f"
done
cat <<'TAIL'
  },
  install = {
    bin = { coursegen = "bin/coursegen" },
  },
  -- No copy_directories: LuaRocks then installs README.md, HACKING.md and LICENSE as the
  -- rock's documentation (its default); examples/ stay in the source tree.
}
TAIL
} > coursegen-dev-1.rockspec
