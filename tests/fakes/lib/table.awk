# plain qstat: one line per job in the default layout of the flavour
BEGIN { FS = "\t"; n = 0 }
$1 == "J" { id[++n] = $2; next }
$1 == "S" && $2 == "Job_Name" { name[n] = $3; next }
$1 == "S" && $2 == "Job_Owner" { u = $3; sub(/@.*/, "", u); user[n] = u; next }
$1 == "A" && $2 == "job_state" { st[n] = $3; next }
$1 == "S" && $2 == "queue" { q[n] = $3; next }
END {
  if (n == 0) exit
  if (flavour == "pbspro") {
    print "Job id            Name             User              Time Use S Queue"
    print "----------------  ---------------- ----------------  -------- - -----"
    for (i = 1; i <= n; i++)
      printf "%-17s %-16s %-16s  %8s %s %s\n", substr(id[i], 1, 17), substr(name[i], 1, 16), substr(user[i], 1, 16), "0", st[i], q[i]
  } else {
    print "Job ID                    Name             User            Time Use S Queue"
    print "------------------------- ---------------- --------------- -------- - -----"
    for (i = 1; i <= n; i++)
      printf "%-25s %-16s %-15s %8s %s %s\n", substr(id[i], 1, 25), substr(name[i], 1, 16), substr(user[i], 1, 15), "0", st[i], q[i]
  }
}
