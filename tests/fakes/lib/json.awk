# qstat -f -F json: records (J id | S key value | A key value | R key value | V key value) -> the
# layout of PBS Pro 19's JSON output. S values are strings; A, R and V values are numbers when
# they look like numbers (as pbs_json_insert_parsed does), strings otherwise.
function esc(s,   out, i, c, n) {   # char by char: gsub() replacement escapes differ between awks
  if (s !~ /[\\"\t\r]/) return s
  out = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1)
    if (c == "\\") out = out "\\\\"
    else if (c == "\"") out = out "\\\""
    else if (c == "\t") out = out "\\t"
    else if (c == "\r") out = out "\\r"
    else out = out c
  }
  return out
}
function val(v) {
  if (v ~ /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/) return v
  return "\"" esc(v) "\""
}
function closegroup() { if (group != "") { printf "\n            }"; group = "" } }
function attr(k, v) { printf "%s            \"%s\":%s", (first ? "\n" : ",\n"), esc(k), v; first = 0 }
function closejob() { if (injob) { closegroup(); printf "\n        }"; injob = 0 } }
BEGIN {
  FS = "\t"; njobs = 0; injob = 0; group = ""
  printf "{\n    \"timestamp\":%s,\n    \"pbs_version\":\"19.1.3\",\n    \"pbs_server\":\"%s\"", ts, srv
}
$1 == "J" {
  closejob()
  printf "%s        \"%s\":{", (njobs++ ? ",\n" : ",\n    \"Jobs\":{\n"), esc($2)
  injob = 1; first = 1; next
}
$1 == "S" { closegroup(); attr($2, "\"" esc($3) "\""); next }
$1 == "A" { closegroup(); attr($2, val($3)); next }
$1 == "R" || $1 == "V" {
  name = ($1 == "R") ? "Resource_List" : "Variable_List"
  if (group != name) { closegroup(); attr(name, "{"); group = name; gfirst = 1 }
  printf "%s                \"%s\":%s", (gfirst ? "\n" : ",\n"), esc($2), val($3); gfirst = 0
  next
}
END {
  closejob()
  if (njobs) printf "\n    }"
  printf "\n}\n"
}
