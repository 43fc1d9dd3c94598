# qstat -f (text): "Job Id: ID", then "    name = value" lines, a blank line after each job.
# Long values wrap at commas the way the qstat prt_attr() of Torque and PBS does (77 columns,
# continuation lines start with a tab). Variable_List is one comma separated attribute.
function prt(n, v,   toks, nt, i, c, l, start, j) {
  start = length(n) + 7
  printf "    %s = ", n
  nt = split(v, toks, ",")
  for (i = 1; i <= nt; i++) {
    c = toks[i]; l = length(c)
    if (l + start < 77) { printf "%s", c; start += l }
    else {
      if (i > 1) { printf "\n\t"; start = 9 }
      for (j = 1; j <= l; j++) {
        printf "%s", substr(c, j, 1)
        if (++start > 77) { start = 8; printf "\n\t" }
      }
    }
    if (i < nt) printf ","
  }
  printf "\n"
}
function flushvars() { if (vars != "") { prt("Variable_List", vars); vars = "" } }
function endjob() { if (injob) { flushvars(); printf "\n"; injob = 0 } }
BEGIN { FS = "\t"; injob = 0; vars = "" }
$1 == "J" { endjob(); printf "Job Id: %s\n", $2; injob = 1; next }
$1 == "S" || $1 == "A" { prt($2, $3); next }
$1 == "R" { prt("Resource_List." $2, $3); next }
$1 == "V" { vars = vars (vars == "" ? "" : ",") $2 "=" $3; next }
END { endjob() }
