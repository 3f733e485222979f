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
}
test_dependencies = { "busted >= 2.1" }
test = { type = "busted" }
build = {
  type = "builtin",
  modules = {
    ["coursegen.core"] = {
      sources = {
        "csrc/cg_buf.c",
        "csrc/cg_clock.c",
        "csrc/cg_core.c",
        "csrc/cg_engine.c",
        "csrc/cg_hints.c",
        "csrc/cg_http.c",
        "csrc/cg_limit.c",
        "csrc/cg_pool.c",
        "csrc/cg_redis.c",
        "csrc/cg_redis_lua.c",
        "csrc/cg_redis_script.c",
        "csrc/cg_redis_url.c",
        "csrc/cg_results.c",
        "csrc/cg_retry.c",
        "csrc/cg_sha256.c",
        "csrc/cg_signals.c",
        "csrc/cg_stats.c",
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "csrc", "$(CURL_INCDIR)", "$(HIREDIS_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(HIREDIS_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      libraries = { "curl", "hiredis", "crypto", "pthread", "m" },
    },
    ["coursegen.mockserver"] = {
      sources = {
        "csrc/mock/mock_answer.c",
        "csrc/mock/mock_core.c",
        "csrc/mock/mock_faults.c",
        "csrc/mock/mock_gemini.c",
        "csrc/mock/mock_hostile.c",
        "csrc/mock/mock_http.c",
        "csrc/mock/mock_json.c",
        "csrc/mock/mock_limit.c",
        "csrc/mock/mock_openai.c",
        "csrc/mock/mock_route.c",
        "csrc/mock/mock_server.c",
        "csrc/mock/mock_stats.c",
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "csrc", "csrc/mock" },
      libraries = { "pthread", "m" },
    },
    ["coursegen.answer"] = "lua/coursegen/answer.lua",
    ["coursegen.cli.course"] = "lua/coursegen/cli/course.lua",
    ["coursegen.cli.dryrun"] = "lua/coursegen/cli/dryrun.lua",
    ["coursegen.cli.export"] = "lua/coursegen/cli/export.lua",
    ["coursegen.cli.format"] = "lua/coursegen/cli/format.lua",
    ["coursegen.cli.generate"] = "lua/coursegen/cli/generate.lua",
    ["coursegen.cli"] = "lua/coursegen/cli/init.lua",
    ["coursegen.cli.mock"] = "lua/coursegen/cli/mock.lua",
    ["coursegen.cli.options"] = "lua/coursegen/cli/options.lua",
    ["coursegen.cli.outline"] = "lua/coursegen/cli/outline.lua",
    ["coursegen.cli.path"] = "lua/coursegen/cli/path.lua",
    ["coursegen.cli.progress"] = "lua/coursegen/cli/progress.lua",
    ["coursegen.cli.settings"] = "lua/coursegen/cli/settings.lua",
    ["coursegen.cli.summary"] = "lua/coursegen/cli/summary.lua",
    ["coursegen.cli.term"] = "lua/coursegen/cli/term.lua",
    ["coursegen.cli.validate"] = "lua/coursegen/cli/validate.lua",
    ["coursegen.cli.values"] = "lua/coursegen/cli/values.lua",
    ["coursegen.course"] = "lua/coursegen/course.lua",
    ["coursegen.engine"] = "lua/coursegen/engine.lua",
    ["coursegen.export.book_input"] = "lua/coursegen/export/book_input.lua",
    ["coursegen.export.course_folder"] = "lua/coursegen/export/course_folder.lua",
    ["coursegen.export.docx"] = "lua/coursegen/export/docx.lua",
    ["coursegen.export.epub"] = "lua/coursegen/export/epub.lua",
    ["coursegen.export.fsutil"] = "lua/coursegen/export/fsutil.lua",
    ["coursegen.export.html"] = "lua/coursegen/export/html.lua",
    ["coursegen.export.html_css"] = "lua/coursegen/export/html_css.lua",
    ["coursegen.export.html_template"] = "lua/coursegen/export/html_template.lua",
    ["coursegen.export"] = "lua/coursegen/export/init.lua",
    ["coursegen.export.links_filter"] = "lua/coursegen/export/links_filter.lua",
    ["coursegen.export.mdbook"] = "lua/coursegen/export/mdbook.lua",
    ["coursegen.export.meta"] = "lua/coursegen/export/meta.lua",
    ["coursegen.export.pandoc"] = "lua/coursegen/export/pandoc.lua",
    ["coursegen.export.reader"] = "lua/coursegen/export/reader.lua",
    ["coursegen.export.single"] = "lua/coursegen/export/single.lua",
    ["coursegen.fail"] = "lua/coursegen/fail.lua",
    ["coursegen.files"] = "lua/coursegen/files.lua",
    ["coursegen.http_error"] = "lua/coursegen/http_error.lua",
    ["coursegen"] = "lua/coursegen/init.lua",
    ["coursegen.jobs"] = "lua/coursegen/jobs.lua",
    ["coursegen.json"] = "lua/coursegen/json.lua",
    ["coursegen.manifest"] = "lua/coursegen/manifest.lua",
    ["coursegen.mock"] = "lua/coursegen/mock.lua",
    ["coursegen.outline"] = "lua/coursegen/outline.lua",
    ["coursegen.pipeline"] = "lua/coursegen/pipeline.lua",
    ["coursegen.plan"] = "lua/coursegen/plan.lua",
    ["coursegen.prices"] = "lua/coursegen/prices.lua",
    ["coursegen.proc"] = "lua/coursegen/proc.lua",
    ["coursegen.prompts"] = "lua/coursegen/prompts.lua",
    ["coursegen.providers.common"] = "lua/coursegen/providers/common.lua",
    ["coursegen.providers.gemini"] = "lua/coursegen/providers/gemini.lua",
    ["coursegen.providers.openai"] = "lua/coursegen/providers/openai.lua",
    ["coursegen.readme"] = "lua/coursegen/readme.lua",
    ["coursegen.runstats"] = "lua/coursegen/runstats.lua",
    ["coursegen.settings"] = "lua/coursegen/settings.lua",
    ["coursegen.sha256"] = "lua/coursegen/sha256.lua",
    ["coursegen.slug"] = "lua/coursegen/slug.lua",
    ["coursegen.source"] = "lua/coursegen/source.lua",
    ["coursegen.template"] = "lua/coursegen/template.lua",
    ["coursegen.text"] = "lua/coursegen/text.lua",
    ["coursegen.validator"] = "lua/coursegen/validator.lua",
    ["coursegen.version"] = "lua/coursegen/version.lua",
  },
  install = {
    bin = { coursegen = "bin/coursegen" },
  },
  -- No copy_directories: LuaRocks then installs README.md, HACKING.md and LICENSE as the
  -- rock's documentation (its default); examples/ stay in the source tree.
}
