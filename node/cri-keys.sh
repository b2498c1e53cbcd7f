#!/bin/bash
# soci-installer: toml_cri_keys, for refuse_v2_user_config in install.sh. Assembled into the scripts
# that check user data (boot, live: src/artifacts/node-script.ts), which call it where containerd 2 runs.

# From a TOML text: "version N" (its top-level version) and "key K" once for each key directly under
# plugins."io.containerd.grpc.v1.cri". A line scanner, not a TOML parser: it reads table headers,
# dotted and quoted keys, and one-line inline tables; it skips what multi-line strings and arrays
# hold. test/validators.test.ts holds it against a real TOML parser.
toml_cri_keys() {
  awk '
  # A dotted key path at the start of s, its parts joined by SEP ("" if none); REST: what follows it.
  function path(s,  out, seg) {
    for (out = ""; ; s = substr(s, 2)) {
      sub(/^[ \t]+/, "", s)
      if (match(s, /^[A-Za-z0-9_-]+/)) seg = substr(s, 1, RLENGTH)
      else if (match(s, /^"([^"\\]|\\.)*"/) || match(s, "^" Q "[^" Q "]*" Q)) seg = substr(s, 2, RLENGTH - 2)
      else return ""
      out = out (out == "" ? "" : SEP) seg
      s = substr(s, RLENGTH + 1); sub(/^[ \t]+/, "", s)
      if (substr(s, 1, 1) != ".") break
    }
    REST = s; return out
  }
  # Where the value starting s ends: at the first , or } outside strings and brackets (with stop);
  # DEPTH: the brackets it leaves open ("#" ends a line).
  function skip(s, stop,  d, c, q) {
    for (d = 0; s != ""; s = substr(s, 2)) {
      c = substr(s, 1, 1)
      if (q != "") { if (c == "\\" && q == "\"") s = substr(s, 2); else if (c == q) q = "" }
      else if (c == "\"" || c == Q) q = c
      else if (c == "#") break
      else if (c == "[" || c == "{") d++
      else if (c == "]" || c == "}") { if (d == 0 && stop) break; d-- }
      else if (c == "," && d == 0 && stop) break
    }
    DEPTH = d; return s
  }
  function found(p) {
    if (index(p SEP, CRI) != 1 || length(p SEP) == length(CRI)) return
    p = substr(p, length(CRI) + 1); sub(SEP ".*", "", p)
    if (!(p in seen)) { seen[p] = 1; print "key " p }
  }
  function inline(p, s,  k) {
    for (s = substr(s, 2); ; s = skip(s, 1)) {
      sub(/^[ \t,]+/, "", s); k = path(s)
      if (k == "" || substr(REST, 1, 1) != "=") return
      found(p SEP k); s = substr(REST, 2); sub(/^[ \t]+/, "", s)
      if (substr(s, 1, 1) == "{") inline(p SEP k, s)
    }
  }
  BEGIN { SEP = "\034"; Q = "\047"; CRI = "plugins" SEP "io.containerd.grpc.v1.cri" SEP }
  { sub(/\r$/, "") }
  ml != "" { if (index($0, ml)) ml = ""; next }
  open > 0 { skip($0, 0); open += DEPTH; next }
  /^[ \t]*\[/ { s = $0; sub(/^[ \t]*\[\[?/, "", s); table = path(s); found(table); next }
  {
    k = path($0)
    if (k == "" || substr(REST, 1, 1) != "=") next
    if (table != "") k = table SEP k
    found(k)
    v = substr(REST, 2); sub(/^[ \t]+/, "", v); c = substr(v, 1, 3)
    if (k == "version") { sub(/[ \t]*(#.*)?$/, "", v); print "version " v }
    if ((c == "\"\"\"" || c == Q Q Q) && !index(substr(v, 4), c)) ml = c
    else if (substr(v, 1, 1) == "{") inline(k, v)
    else { skip(v, 0); open = DEPTH }
  }'
}
