--- The static site's stylesheet (inlined into every page by the HTML template).
-- @module coursegen.export.html_css
return [[
:root {
  --text: #1f2328; --muted: #59636e; --accent: #0b5cad; --rule: #d8dee4;
  --code-bg: #f6f8fa; --page-bg: #fdfdfc;
}
* { box-sizing: border-box; }
html { font-size: 18px; -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--page-bg); color: var(--text);
  font-family: Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, "DejaVu Serif", serif;
  line-height: 1.65; text-rendering: optimizeLegibility;
}
.site-header {
  border-bottom: 1px solid var(--rule); padding: .8rem 1.25rem;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
.course-title { color: var(--text); font-weight: 600; text-decoration: none; font-size: .95rem; }
.course-title:hover { color: var(--accent); }
.page { max-width: 44rem; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
.chapter-label {
  margin: 0 0 .3rem; color: var(--muted); text-transform: uppercase; letter-spacing: .08em;
  font: 600 .75rem/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
h1, h2, h3, h4, h5, h6 {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  line-height: 1.25; margin: 2em 0 .6em; font-weight: 650;
}
h1 { font-size: 2.1rem; margin-top: 0; letter-spacing: -.01em; }
h2 { font-size: 1.5rem; padding-bottom: .25rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.2rem; }
h4, h5, h6 { font-size: 1rem; }
p, ul, ol, dl, blockquote, pre, table, figure { margin: 0 0 1.1em; }
ul, ol { padding-left: 1.6em; }
li + li { margin-top: .25em; }
a { color: var(--accent); text-underline-offset: .15em; }
a:hover { text-decoration-thickness: 2px; }
strong { font-weight: 650; }
hr { border: 0; border-top: 1px solid var(--rule); margin: 2.5em 0; }
img { max-width: 100%; height: auto; }
blockquote { margin-left: 0; padding: .2em 1em; border-left: 4px solid var(--rule); color: var(--muted); }
code, kbd, samp, pre {
  font-family: ui-monospace, "SFMono-Regular", "Cascadia Mono", Menlo, Consolas,
    "DejaVu Sans Mono", "Liberation Mono", monospace;
  font-size: .85em;
}
:not(pre) > code { background: var(--code-bg); padding: .1em .35em; border-radius: 4px; }
code { white-space: pre-wrap; }
pre {
  background: var(--code-bg); border: 1px solid var(--rule); border-radius: 6px;
  padding: .9em 1em; overflow-x: auto; line-height: 1.5;
}
pre code { white-space: pre; background: none; padding: 0; font-size: 1em; }
div.sourceCode { margin: 0 0 1.1em; }
div.sourceCode pre { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: .92em; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--rule); padding: .4em .7em; text-align: left; vertical-align: top; }
th { background: var(--code-bg); }
span.smallcaps { font-variant: small-caps; }
div.columns { display: flex; gap: min(4vw, 1.5em); }
div.column { flex: 1; }
ul.task-list { list-style: none; padding-left: 1em; }
.course-toc { margin-top: 2.5rem; }
.course-toc ol { list-style: none; padding-left: 0; }
.course-toc li { padding: .35em 0; border-bottom: 1px solid var(--rule); }
.course-toc a { text-decoration: none; }
.toc-number { display: inline-block; min-width: 2.2em; color: var(--muted); font-variant-numeric: tabular-nums; }
.pager {
  max-width: 44rem; margin: 0 auto 3rem; padding: 1.25rem; border-top: 1px solid var(--rule);
  display: flex; justify-content: space-between; align-items: center; gap: 1rem;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: .9rem;
}
.pager a { text-decoration: none; }
.pager-prev, .pager-next { flex: 1; display: flex; flex-direction: column; }
.pager-next { text-align: right; }
.pager-dir { color: var(--muted); font-size: .8rem; }
.pager-title { font-weight: 600; }
@media print { .site-header, .pager { display: none; } }
]]
