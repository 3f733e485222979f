--- The pandoc reader settings shared by every exporter.
--
-- Pandoc's Markdown plus bare URLs as links (as chat models write them). Raw HTML and TeX are
-- off: the chapters are model output, and a stray `<script>` or `<img src=https://…>` must
-- show as text rather than run or fetch anything.
-- @module coursegen.export.reader
return {
  format = "markdown+autolink_bare_uris-raw_html-raw_tex-raw_attribute",
  highlight_style = "pygments",
}
