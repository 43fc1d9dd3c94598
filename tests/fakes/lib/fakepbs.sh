# Shared machinery of the fake PBS Pro and Torque schedulers (tests/fakes/README.md).
# Sourced by tests/fakes/{pbspro,torque}/{qsub,qstat,qdel} after they set FAKE_FLAVOR.
# POSIX sh (runs under dash); uses awk, sed, date, sleep, kill, flock, setsid, env.
#
# State, under $XRUN_FAKE_PBS_HOME/<flavour>/ (one "server" per flavour):
#   lock            flock(1) lock taken around every state change and every qstat snapshot
#   seq             the last job sequence number handed out
#   daemon.pid      the running dispatcher ("server + scheduler"); daemon.log its output
#   active/NNNNNNNNN  one marker per job that still has an element not finished
#   jobs/SEQ/job    the job's attributes (sh, sourced), jobs/SEQ/script, jobs/SEQ/env,
#                   jobs/SEQ/vars (Variable_List), jobs/SEQ/res (Resource_List)
#   jobs/SEQ/e/IDX/ one folder per element (IDX "_" for a job that is not an array):
#                   state (Q H R E F X C), exit, comment, stime, etime, pid, killreason,
#                   out.spool / err.spool (output until it is delivered at the end)

FAKE_LIB=${FAKE_LIB:-}
FAKE_HOST=$(uname -n)
DEFAULT_IFS=' 	
'

fake_flavour() {
  FAKE_FLAVOR=$1
  case $FAKE_FLAVOR in
    pbspro)
      SERVER=fakepbs; QUEUE=workq; TERM_JOB=F; TERM_SUB=X; WALL_EXIT=-29
      PREFIX_DEFAULT='#PBS'
      QSUB_OPTS=':a:A:c:C:e:fhIj:J:k:l:m:M:N:o:p:P:q:r:R:S:u:v:VW:XzG' ;;
    torque)
      SERVER=faketorque; QUEUE=batch; TERM_JOB=C; TERM_SUB=C; WALL_EXIT=${XRUN_FAKE_PBS_WALLTIME_EXIT:--11}
      PREFIX_DEFAULT='#PBS'
      QSUB_OPTS=':a:A:b:c:C:d:D:e:EfF:hIj:k:K:l:L:m:M:nN:o:p:P:q:r:S:t:T:u:v:Vw:W:XxzZ' ;;
    *) echo "fakepbs: unknown flavour $FAKE_FLAVOR" >&2; exit 2 ;;
  esac
}

fake_init() {
  if [ -z "${XRUN_FAKE_PBS_HOME:-}" ]; then
    echo "$PROG: XRUN_FAKE_PBS_HOME is not set (the fake $SERVER server keeps its state there)" >&2
    exit 1
  fi
  S=$XRUN_FAKE_PBS_HOME/$FAKE_FLAVOR
  mkdir -p "$S/jobs" "$S/active" || exit 1
  SLOTS=${XRUN_FAKE_PBS_SLOTS:-4}
  KILL_DELAY=${XRUN_FAKE_PBS_KILL_DELAY:-2}
}

# One lock for every state change: fd 9 on $S/lock. Children started while it is held get 9>&-.
lock() { exec 9>>"$S/lock"; flock 9; }
unlock() { flock -u 9; }

# Single-quote a value for a sourced sh file.
q() {
  case $1 in
    *\'*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf "'%s'" "$1" ;;
  esac
}

pl() { printf '%s\n' "$1"; }

# read_file FILE [DEFAULT] -> $R (no fork)
read_file() { R=${2:-}; [ -f "$1" ] && { IFS= read -r R < "$1" || :; }; }

ctime_of() { date -d "@$1" '+%a %b %e %H:%M:%S %Y'; }

# ---------------------------------------------------------------- ids
# parse_id ID -> ID_SEQ, ID_IDX ("" for SEQ[], "-" for a plain SEQ, else the index); 1 if malformed.
# A server suffix (".fakepbs", ".faketorque", ".anything", "@server") is accepted and dropped.
parse_id() {
  local t
  t=${1%%@*}
  t=${t%%.*}
  case $t in
    *\[*\])
      ID_SEQ=${t%%\[*}; ID_IDX=${t#*\[}; ID_IDX=${ID_IDX%\]}
      case $ID_IDX in *[!0-9]*) return 1 ;; esac ;;
    *) ID_SEQ=$t; ID_IDX=- ;;
  esac
  case $ID_SEQ in ''|*[!0-9]*) return 1 ;; esac
  return 0
}

# job_exists SEQ IDX -> 0 when the id names a job/array/element of this server (loads the job).
job_exists() {
  J=$S/jobs/$1
  [ -f "$J/array" ] || return 1
  . "$J/job"
  case $2 in
    -) [ "$ARRAY" = 0 ] ;;
    '') [ "$ARRAY" = 1 ] ;;
    *) [ "$ARRAY" = 1 ] && [ -d "$J/e/$2" ] ;;
  esac
}

canon_id() { # SEQ IDX -> printed id
  case $2 in -) printf '%s.%s' "$1" "$SERVER" ;; *) printf '%s[%s].%s' "$1" "$2" "$SERVER" ;; esac
}

is_terminal() { case $1 in F|X|C) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- dependencies
# target_status SEQ IDX -> T_DONE (0/1), T_OK (0/1), T_STARTED (0/1), T_KNOWN (0/1)
target_status() {
  local tj e st n_ex n_bad kind
  T_DONE=1; T_OK=0; T_STARTED=0; T_KNOWN=0
  tj=$S/jobs/$1
  [ -f "$tj/array" ] || return 0
  read_file "$tj/array"; kind=$R
  case $2 in
    -) [ "$kind" = 0 ] || return 0; set -- _ ;;
    '') [ "$kind" = 1 ] || return 0; read_file "$tj/indices"; set -- $R ;;
    *) [ "$kind" = 1 ] && [ -d "$tj/e/$2" ] || return 0; set -- "$2" ;;
  esac
  T_KNOWN=1
  n_ex=0; n_bad=0
  for e in "$@"; do
    read_file "$tj/e/$e/state"; st=$R
    is_terminal "$st" || T_DONE=0
    [ -f "$tj/e/$e/stime" ] && T_STARTED=1
    if [ -f "$tj/e/$e/exit" ]; then
      read_file "$tj/e/$e/exit"
      n_ex=$((n_ex + 1)); [ "$R" = 0 ] || n_bad=$((n_bad + 1))
    fi
  done
  [ "$n_ex" -gt 0 ] && [ "$n_bad" = 0 ] && T_OK=1
  return 0
}

# deps_eval "type:SEQ[IDX] ..." -> DEP (ok|wait|fail), DEP_ON (the id that failed)
deps_eval() {
  local d type tgt
  DEP=ok; DEP_ON=
  for d in $1; do
    type=${d%%:*}; tgt=${d#*:}
    parse_id "$tgt" || { DEP=fail; DEP_ON=$tgt; return; }
    target_status "$ID_SEQ" "$ID_IDX"
    if [ "$T_KNOWN" = 0 ]; then DEP=fail; DEP_ON=$(canon_id "$ID_SEQ" "$ID_IDX"); return; fi
    case $type in
      afterok|afterokarray)
        if [ "$T_DONE" = 1 ]; then [ "$T_OK" = 1 ] || { DEP=fail; DEP_ON=$(canon_id "$ID_SEQ" "$ID_IDX"); return; }
        else DEP=wait; fi ;;
      afternotok|afternotokarray)
        if [ "$T_DONE" = 1 ]; then [ "$T_OK" = 0 ] || { DEP=fail; DEP_ON=$(canon_id "$ID_SEQ" "$ID_IDX"); return; }
        else DEP=wait; fi ;;
      afterany|afteranyarray)
        [ "$T_DONE" = 1 ] || DEP=wait ;;
      after|afterstartarray)
        if [ "$T_STARTED" = 0 ]; then
          if [ "$T_DONE" = 1 ]; then DEP=fail; DEP_ON=$(canon_id "$ID_SEQ" "$ID_IDX"); return; fi
          DEP=wait
        fi ;;
    esac
  done
}

# ---------------------------------------------------------------- ending elements
# finish_element DIR STATE [EXIT] [COMMENT]: terminal state (caller holds the lock).
finish_element() {
  [ -n "${3:-}" ] && echo "$3" > "$1/exit"
  [ -n "${4:-}" ] && pl "$4" > "$1/comment"
  date +%s > "$1/etime"
  echo "$2" > "$1/state"
}

term_state() { if [ "$ARRAY" = 1 ]; then T=$TERM_SUB; else T=$TERM_JOB; fi; }

# delete_unstarted DIR REASON-COMMENT: a queued/held element ends without running.
# Torque gives a job deleted through a dependency exit_status 271 (handle_aborted_job).
delete_unstarted() {
  term_state
  if [ "$FAKE_FLAVOR" = torque ] && [ -n "$2" ]; then finish_element "$1" "$T" 271 "$2"
  else finish_element "$1" "$T" "" "$2"; fi
}

# start_kill DIR PID REASON: SIGTERM to the element's process group now, SIGKILL after the delay.
start_kill() {
  [ -f "$1/killreason" ] || echo "$3" > "$1/killreason"
  kill -TERM -"$2" 2>/dev/null
  setsid sh -c 'FAKE_LIB=$1; . "$1"; fake_flavour "$2"; fake_init; fake_killer "$3" "$4"' sh \
    "$FAKE_LIB" "$FAKE_FLAVOR" "$1" "$2" </dev/null >/dev/null 2>&1 9>&- &
}

fake_killer() { # DIR PID: after the kill delay, SIGKILL if that element still runs as PID
  sleep "$KILL_DELAY"
  lock
  read_file "$1/state"; local st=$R
  read_file "$1/pid"
  if [ "$R" = "$2" ] && [ "$st" = R ]; then kill -KILL -"$2" 2>/dev/null; fi
  unlock
}

# ---------------------------------------------------------------- dispatcher
ensure_daemon() { # caller holds the lock
  if [ -f "$S/daemon.pid" ]; then
    read_file "$S/daemon.pid"
    kill -0 "$R" 2>/dev/null && return 0
  fi
  setsid sh -c 'FAKE_LIB=$1; . "$1"; fake_flavour "$2"; fake_init; fake_daemon' sh "$FAKE_LIB" "$FAKE_FLAVOR" \
    </dev/null >>"$S/daemon.log" 2>&1 9>&- &
  echo $! > "$S/daemon.pid"
}

fake_daemon() {
  while :; do
    lock
    dispatch_once
    if [ -z "$(ls "$S/active")" ]; then rm -f "$S/daemon.pid"; unlock; exit 0; fi
    unlock
    sleep 0.2
  done
}

dispatch_once() {
  local a seq idx st running jrun n_live
  # pass 1: releases and deletions through dependencies; count running elements
  running=0
  for a in "$S"/active/*; do
    [ -f "$a" ] || continue
    read_file "$a"; seq=$R; J=$S/jobs/$seq; . "$J/job"
    if [ -f "$J/held" ]; then
      deps_eval "$DEPEND"
      case $DEP in
        ok)
          rm -f "$J/held"
          for idx in $INDICES; do
            read_file "$J/e/$idx/state"; [ "$R" = H ] && echo Q > "$J/e/$idx/state"
          done ;;
        fail)
          rm -f "$J/held"
          for idx in $INDICES; do
            read_file "$J/e/$idx/state"
            case $R in Q|H) delete_unstarted "$J/e/$idx" "Job deleted as result of dependency on job $DEP_ON" ;; esac
          done ;;
      esac
    fi
    for idx in $INDICES; do
      read_file "$J/e/$idx/state"; case $R in R|E) running=$((running + 1)) ;; esac
    done
  done
  # pass 2: start queued elements in submission order while slots are free; retire finished jobs
  for a in "$S"/active/*; do
    [ -f "$a" ] || continue
    read_file "$a"; seq=$R; J=$S/jobs/$seq; . "$J/job"
    jrun=0; n_live=0
    for idx in $INDICES; do
      read_file "$J/e/$idx/state"; case $R in R|E) jrun=$((jrun + 1)) ;; esac
    done
    for idx in $INDICES; do
      read_file "$J/e/$idx/state"; st=$R
      is_terminal "$st" || n_live=$((n_live + 1))
      [ "$st" = Q ] || continue
      [ "$running" -lt "$SLOTS" ] || continue
      [ "$LIMIT" = 0 ] || [ "$jrun" -lt "$LIMIT" ] || continue
      start_element "$seq" "$idx"
      running=$((running + 1)); jrun=$((jrun + 1))
    done
    [ "$n_live" = 0 ] && rm -f "$a"
  done
}

start_element() { # SEQ IDX (lock held)
  local E=$S/jobs/$1/e/$2 now
  now=$(date +%s)
  echo "$now" > "$E/stime"
  echo R > "$E/state"
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    echo "Job run at $(date -d "@$now" '+%a %b %d at %H:%M') on ($FAKE_HOST:ncpus=1)" > "$E/comment"
  fi
  setsid sh -c 'FAKE_LIB=$1; . "$1"; fake_flavour "$2"; fake_init; fake_mom "$3" "$4"' sh "$FAKE_LIB" "$FAKE_FLAVOR" "$1" "$2" \
    </dev/null >>"$S/daemon.log" 2>&1 9>&- &
}

# ---------------------------------------------------------------- output paths
# out_paths SEQ IDX (job loaded) -> OUTF ERRF: where the element's stdout/stderr end up.
out_paths() {
  local seq=$1 idx=$2 defo defe suffix
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    suffix=$seq; [ "$idx" = _ ] || suffix=$seq.$idx
  else
    suffix=$seq; [ "$idx" = _ ] || suffix=$seq-$idx
  fi
  defo=$NAME.o$suffix; defe=$NAME.e$suffix
  OUTF=$(one_path "$OUTPATH" "$defo" "$idx" o)
  ERRF=$(one_path "$ERRPATH" "$defe" "$idx" e)
}

one_path() { # GIVEN DEFAULT IDX LETTER
  local p=$1
  # -k: kept on the execution host in the home directory under the default name
  case $KEEP in *d*) ;; *"$4"*) printf '%s/%s' "${HOME:-/}" "$2"; return ;; esac
  if [ -z "$p" ]; then printf '%s/%s' "$WORKDIR" "$2"; return; fi
  p=${p#*:}   # host: prefix
  case $p in /*) ;; *) p=$WORKDIR/$p ;; esac
  if [ -d "$p" ]; then printf '%s/%s' "${p%/}" "$2"; return; fi
  if [ "$3" != _ ]; then
    if [ "$FAKE_FLAVOR" = pbspro ]; then
      while :; do case $p in *^array_index^*) p=${p%%^array_index^*}$3${p#*^array_index^} ;; *) break ;; esac; done
    else
      p=$p-$3   # Torque appends -INDEX to a subjob's Output_Path/Error_Path
    fi
  fi
  printf '%s' "$p"
}

# ---------------------------------------------------------------- the element runner ("MoM")
fake_mom() { # SEQ IDX
  local seq=$1 idx=$2 E pid tpid rc st reason interp iarg first direct_o direct_e so se
  J=$S/jobs/$seq; E=$J/e/$idx
  . "$J/job"
  out_paths "$seq" "$idx"
  # stdout/stderr are spooled and delivered at the end unless -k asks for direct write (PBS Pro "d")
  # or for keeping them in the home directory (both flavours)
  case $KEEP in *o*) direct_o=1 ;; *) direct_o=0 ;; esac
  case $KEEP in *e*) direct_e=1 ;; *) direct_e=0 ;; esac
  if [ "$direct_o" = 1 ]; then so=$OUTF; else so=$E/out.spool; fi
  if [ "$direct_e" = 1 ]; then se=$ERRF; else se=$E/err.spool; fi

  # the job's environment: qsub's -v/-V variables, then what the server sets
  {
    cat "$J/env"
    pl "export HOME=$(q "${HOME:-/}") LOGNAME=$(q "$USER_NAME") USER=$(q "$USER_NAME") SHELL=/bin/sh"
    pl "export PATH=$(q "$O_PATH")"
    pl "export PBS_ENVIRONMENT=PBS_BATCH PBS_QUEUE=$QUEUE PBS_JOBNAME=$(q "$NAME")"
    pl "export PBS_JOBDIR=$(q "${HOME:-/}") TMPDIR=$(q "$E/tmp") PBS_NODEFILE=$(q "$E/nodefile")"
    if [ "$FAKE_FLAVOR" = pbspro ]; then
      if [ "$ARRAY" = 1 ]; then
        pl "export PBS_JOBID='$seq[$idx].$SERVER' PBS_ARRAY_INDEX=$idx PBS_ARRAY_ID='$seq[].$SERVER'"
      else
        pl "export PBS_JOBID='$seq.$SERVER'"
      fi
    else
      pl "export PBS_SERVER=$SERVER PBS_NUM_NODES=1 PBS_NUM_PPN=1 PBS_NP=1 PBS_TASKNUM=1 PBS_NODENUM=0 PBS_VNODENUM=0"
      [ -n "$WALLTIME" ] && pl "export PBS_WALLTIME=$WALLTIME"
      if [ "$ARRAY" = 1 ]; then
        pl "export PBS_JOBID='$seq[$idx].$SERVER' PBS_ARRAYID=$idx PBS_JOBNAME=$(q "$NAME-$idx")"
      else
        pl "export PBS_JOBID='$seq.$SERVER'"
      fi
    fi
  } > "$E/envfile"
  mkdir -p "$E/tmp"
  echo "$FAKE_HOST" > "$E/nodefile"

  # interpreter: -S, else the user's login shell (XRUN_FAKE_PBS_LOGIN_SHELL, as PBS does: the
  # script's #! line is then only a comment), else the script's #! line, else /bin/sh
  interp=/bin/sh; iarg=
  if [ -n "$SHELL_PATH" ]; then interp=$SHELL_PATH
  elif [ -n "${XRUN_FAKE_PBS_LOGIN_SHELL:-}" ]; then interp=$XRUN_FAKE_PBS_LOGIN_SHELL
  else
    IFS= read -r first < "$J/script" || :
    case $first in
      '#!'*)
        first=${first#\#!}; first=${first# }
        interp=${first%% *}
        case $first in *' '*) iarg=${first#* } ;; esac ;;
    esac
  fi

  lock
  read_file "$E/state"
  if [ "$R" != R ]; then unlock; exit 0; fi
  if [ "$JOIN" = oe ]; then se=$so; elif [ "$JOIN" = eo ]; then so=$se; fi
  (
    cd "${JOB_CWD:-${HOME:-/}}" 2>/dev/null || cd /
    exec setsid env -i /bin/sh -c '. "$1"; shift; exec "$@"' sh "$E/envfile" "$interp" ${iarg:+"$iarg"} "$J/script" \
      </dev/null >>"$so" 2>>"$se" 9>&-
  ) &
  pid=$!
  echo "$pid" > "$E/pid"
  [ -f "$E/killreq" ] && start_kill "$E" "$pid" qdel
  unlock

  # walltime: SIGTERM, then SIGKILL after the kill delay
  tpid=
  if [ -n "$WALLTIME" ]; then
    (
      trap 'kill $sp 2>/dev/null; exit 0' TERM
      sleep $((WALLTIME + 1)) & sp=$!   # the limit is enforced once it is exceeded
      wait $sp
      lock
      read_file "$E/state"
      if [ "$R" = R ] && [ ! -f "$E/killreason" ]; then
        now=$(date +%s); read_file "$E/stime"
        echo "=>> PBS: job killed: walltime $((now - R)) exceeded limit $WALLTIME" >> "$se"
        start_kill "$E" "$pid" walltime
      fi
      unlock
    ) 9>&- &
    tpid=$!
  fi

  wait "$pid"; rc=$?
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null
  kill -KILL -"$pid" 2>/dev/null   # what the job left behind in its process group goes too

  lock
  echo E > "$E/state"
  read_file "$E/killreason"; reason=$R
  unlock

  case $reason in
    walltime) st=$WALL_EXIT ;;
    qdel) if [ "$rc" -gt 128 ]; then st=$((rc - 128 + 256)); else st=$rc; fi ;;
    *) st=$rc ;;
  esac
  # deliver spooled output (PBS copies it to its destination once the job has ended)
  [ "$direct_o" = 1 ] || [ "$so" != "$E/out.spool" ] || cat "$E/out.spool" > "$OUTF" 2>/dev/null
  [ "$direct_e" = 1 ] || [ "$se" != "$E/err.spool" ] || cat "$E/err.spool" > "$ERRF" 2>/dev/null
  rm -rf "$E/tmp"

  lock
  term_state
  local c=
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    read_file "$E/comment"; c=$R
    case $reason:$st in
      walltime:*) c="$c and exceeded resource walltime" ;;
      qdel:*) c="$c and terminated" ;;
      *:0) c="$c and finished" ;;
      *) c="$c and failed" ;;
    esac
  fi
  finish_element "$E" "$T" "$st" "$c"
  unlock
}

# ---------------------------------------------------------------- qsub
usage_qsub() {
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    echo "usage: qsub [-a date_time] [-A account_string] [-c interval] [-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j o|e|n] [-J X-Y[:Z]] [-k keep] [-l resource_list] [-m mail_options] [-M user_list] [-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n] [-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...] [-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]" >&2
    echo "       qsub --version" >&2
  else
    echo "usage: qsub [-a date_time] [-A account_string] [-b secs] [-c [ none | { enabled | periodic | shutdown | depth=<int> | dir=<path> | interval=<minutes>}... ] [-C directive_prefix] [-d path] [-D path] [-e path] [-h] [-I] [-j oe|eo|n] [-k {oe}] [-K interval] [-l resource_list] [-m n|{abe}] [-M user_list] [-N jobname] [-o path] [-p priority] [-P proxy_user [-J <jobid]] [-q queue] [-r y|n] [-S path] [-t number_to_submit] [-T type] [-u user_list] [-w] path [-W additional_attributes] [-v variable_list] [-V] [-x] [-X] [-z] [script]" >&2
  fi
  exit 2
}

qsub_err() { echo "qsub: $1" >&2; exit "${2:-2}"; }

# Resource list "k=v,k=v" merged into O_RES (one k=v per line; a later value for a key wins)
add_res() {
  local item k out line
  set -f; IFS=,; set -- $1; IFS=$DEFAULT_IFS; set +f
  for item in "$@"; do
    case $item in *=*) ;; *) qsub_err "illegal -l value" ;; esac
    k=${item%%=*}
    out=
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      [ "${line%%=*}" = "$k" ] || out="$out$line
"
    done <<EOF
$O_RES
EOF
    O_RES="$out$item
"
  done
}

apply_opts() { # ARGS...: set the O_* variables (command line and directives share this)
  local o
  OPTIND=1
  while getopts "$QSUB_OPTS" o; do
    case $o in
      N) O_NAME=$OPTARG ;;
      o) O_OUT=$OPTARG ;;
      e) O_ERR=$OPTARG ;;
      j) O_JOIN=$OPTARG ;;
      k) O_KEEP=$OPTARG ;;
      J) [ "$FAKE_FLAVOR" = pbspro ] && O_ARRAY=$OPTARG ;;
      t) [ "$FAKE_FLAVOR" = torque ] && O_ARRAY=$OPTARG ;;
      l) add_res "$OPTARG" ;;
      W) case $OPTARG in
           depend=*) O_DEPEND=${OPTARG#depend=} ;;
           *) O_WATTR="$O_WATTR $OPTARG" ;;
         esac ;;
      q) O_QUEUE=$OPTARG ;;
      P) O_PROJECT=$OPTARG ;;
      A) O_ACCOUNT=$OPTARG ;;
      m) O_MAILP=$OPTARG ;;
      M) O_MAILU=$OPTARG ;;
      S) O_SHELL=$OPTARG ;;
      v) O_VLIST="${O_VLIST:+$O_VLIST,}$OPTARG" ;;
      V) O_VALL=1 ;;
      h) O_HOLD=1 ;;
      r) O_RERUN=$OPTARG ;;
      p) O_PRIO=$OPTARG ;;
      d) O_INITDIR=$OPTARG ;;
      w) O_WDIR=$OPTARG ;;
      C) O_PREFIX=$OPTARG ;;
      I) qsub_err "interactive jobs (-I) are not supported by this fake" ;;
      :) echo "qsub: option requires an argument -- '$OPTARG'" >&2; usage_qsub ;;
      \?) echo "qsub: invalid option -- '$OPTARG'" >&2; usage_qsub ;;
      *) : ;;  # accepted and ignored (-a -c -f -R -u -X -z -G -b -D -E -F -K -L -n -T -x -Z)
    esac
  done
  APPLY_SHIFT=$((OPTIND - 1))
}

# expand_array SPEC -> INDICES (space separated), RANGE, LIMIT; exits with qsub's error when invalid
expand_array() {
  local spec=$1 a b step part out lim=0
  case $spec in *%*) lim=${spec#*%}; spec=${spec%%%*}
    case $lim in ''|*[!0-9]*) bad_array ;; esac ;; esac
  out=
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    # X-Y[:Z], X < Y, Z >= 1 (chk_Jrange); no lists
    case $spec in *[!0-9:-]*|'') bad_array ;; esac
    a=${spec%%-*}; b=${spec#*-}; step=1
    case $b in *:*) step=${b#*:}; b=${b%%:*} ;; esac
    case "$a/$b/$step" in */*-*|*//*|/*|*/) bad_array ;; esac
    case $a in ''|*[!0-9]*) bad_array ;; esac
    case $b in ''|*[!0-9]*) bad_array ;; esac
    case $step in ''|*[!0-9]*) bad_array ;; esac
    [ "$a" -lt "$b" ] && [ "$step" -ge 1 ] || bad_array
    [ $(( (b - a) / step + 1 )) -le 10000 ] || qsub_err "Array job exceeds server or queue size limit" 1
    out=$(awk -v a="$a" -v b="$b" -v s="$step" 'BEGIN{for(i=a;i<=b;i+=s) printf "%s%d", (i>a?" ":""), i}')
  else
    # Torque: comma separated numbers and ranges X-Y
    case $spec in ''|*[!0-9,-]*) bad_array ;; esac
    out=$(printf '%s\n' "$spec" | awk -F, '{
      for (i = 1; i <= NF; i++) {
        n = split($i, r, "-")
        if ($i == "" || n > 2 || r[1] == "" || (n == 2 && (r[2] == "" || r[2] + 0 < r[1] + 0))) { print "BAD"; exit }
        lo = r[1] + 0; hi = (n == 2 ? r[2] + 0 : lo)
        for (k = lo; k <= hi; k++) if (!(k in seen)) { seen[k] = 1; v[++m] = k }
      }
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      for (i = 1; i <= m; i++) printf "%s%d", (i > 1 ? " " : ""), v[i]
    }')
    [ "$out" = BAD ] || [ -z "$out" ] && bad_array
  fi
  INDICES=$out; RANGE=$1; LIMIT=$lim
}

bad_array() {
  if [ "$FAKE_FLAVOR" = pbspro ]; then echo "qsub: illegal -J value" >&2; usage_qsub
  else echo "qsub: submit error (Bad Job Array Request)" >&2; exit 235; fi
}

# walltime [[HH:]MM:]SS -> seconds
walltime_secs() {
  printf '%s\n' "$1" | awk -F: '{
    if (NF < 1 || NF > 3) { print "BAD"; exit }
    s = 0
    for (i = 1; i <= NF; i++) { if ($i !~ /^[0-9]+(\.[0-9]*)?$/) { print "BAD"; exit } s = s * 60 + $i }
    printf "%d\n", s
  }'
}

fake_qsub() {
  PROG=qsub
  fake_init
  local script name seq J tmpf d type ids id dl o DEPEND_CANON vname vval res line k v

  case ${1:-} in --version)
    if [ "$FAKE_FLAVOR" = pbspro ]; then echo "pbs_version = 19.1.3"; else echo "Version: 6.1.3"; fi
    exit 0 ;; esac

  SUBMIT_ARGS=$*
  # defaults, then #PBS directives of the script, then the command line (which wins)
  O_NAME= O_OUT= O_ERR= O_JOIN=n O_KEEP=n O_ARRAY= O_RES= O_DEPEND= O_WATTR= O_QUEUE= O_PROJECT= O_ACCOUNT=
  O_MAILP=a O_MAILU= O_SHELL= O_VLIST= O_VALL=0 O_HOLD=0 O_RERUN= O_PRIO=0 O_INITDIR= O_WDIR= O_PREFIX=
  # options may also follow the script (qsub's getopt permutes its arguments); "-- command" is not supported
  for a in "$@"; do [ "$a" = -- ] && qsub_err "this fake runs scripts only, not '-- command'"; done
  script=
  while [ $# -gt 0 ]; do
    apply_opts "$@"
    shift "$APPLY_SHIFT"
    [ $# -gt 0 ] || break
    [ -z "$script" ] || usage_qsub
    script=$1; shift
  done
  tmpf=$S/qsub.$$
  if [ -z "$script" ]; then
    cat > "$tmpf"; script=$tmpf; name=STDIN
  else
    if [ ! -e "$script" ]; then echo "qsub: script file:: No such file or directory" >&2; exit 1; fi
    [ -f "$script" ] || { echo "qsub: script not a file" >&2; exit 1; }
    cp "$script" "$tmpf" || exit 1
    name=${script##*/}
  fi
  prefix=${O_PREFIX:-${PBS_DPREFIX:-$PREFIX_DEFAULT}}
  # directives: from the top of the script up to the first executable line
  O_RES_CMD=$O_RES
  save_cmd_opts
  O_NAME= O_OUT= O_ERR= O_JOIN=n O_KEEP=n O_ARRAY= O_RES= O_DEPEND= O_WATTR= O_QUEUE= O_PROJECT= O_ACCOUNT=
  O_MAILP=a O_MAILU= O_SHELL= O_VLIST= O_VALL=0 O_HOLD=0 O_RERUN= O_PRIO=0 O_INITDIR= O_WDIR= O_PREFIX=
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      "$prefix"*)
        line=${line#"$prefix"}
        set -f; set -- $line; set +f
        apply_opts "$@"
        [ "$APPLY_SHIFT" = $# ] || { rm -f "$tmpf"; echo "qsub: directive error: $line" >&2; exit 2; } ;;
      '#'*) ;;
      *[![:space:]]*)
        case $line in [[:space:]]*'#'*) ;; *) break ;; esac ;;
    esac
  done < "$tmpf"
  # the command line overrides the directives (resources key by key)
  restore_cmd_opts
  set -f; for res in $(printf '%s' "$O_RES_CMD" | tr '\n' ' '); do add_res "$res"; done; set +f

  NAME=${O_NAME:-$name}
  ARRAY=0; INDICES=_; RANGE=; LIMIT=0
  if [ -n "$O_ARRAY" ]; then ARRAY=1; expand_array "$O_ARRAY"; fi
  WALLTIME=; WALLTIME_STR=
  while IFS= read -r line; do
    case $line in walltime=*)
      WALLTIME_STR=${line#walltime=}
      WALLTIME=$(walltime_secs "$WALLTIME_STR")
      [ "$WALLTIME" = BAD ] && { rm -f "$tmpf"; qsub_err "illegal -l value"; } ;;
    esac
  done <<EOF
$O_RES
EOF
  case $O_JOIN in n|oe|eo) ;; *) rm -f "$tmpf"; qsub_err "illegal -j value" ;; esac

  # dependencies: "type:id[:id...][,type:id...]"
  DEPEND_CANON=
  if [ -n "$O_DEPEND" ]; then
    set -f; IFS=,; set -- $O_DEPEND; IFS=$DEFAULT_IFS; set +f
    for d in "$@"; do
      type=${d%%:*}; ids=${d#*:}
      [ "$ids" != "$d" ] && [ -n "$ids" ] || { rm -f "$tmpf"; qsub_err "illegal -W value"; }
      case $FAKE_FLAVOR:$type in
        *:afterok|*:afternotok|*:afterany|*:after) ;;
        torque:afterokarray|torque:afternotokarray|torque:afteranyarray|torque:afterstartarray) ;;
        *) rm -f "$tmpf"; qsub_err "illegal -W value (the fake supports after, afterok, afternotok, afterany$( [ "$FAKE_FLAVOR" = torque ] && echo ' and the *array forms'))" ;;
      esac
      set -f; IFS=:; set -- $ids; IFS=$DEFAULT_IFS; set +f
      for id in "$@"; do
        parse_id "$id" || { rm -f "$tmpf"; qsub_err "illegal -W value"; }
        case $ID_IDX in ''|-) ;; *)
          # PBS Pro refuses a dependency on a subjob (PBSE_IVALREQ)
          if [ "$FAKE_FLAVOR" = pbspro ]; then rm -f "$tmpf"; echo "qsub: Invalid request" >&2; exit 156; fi ;;
        esac
        if [ "$FAKE_FLAVOR" = torque ] && ! (job_exists "$ID_SEQ" "$ID_IDX"); then
          rm -f "$tmpf"; echo "qsub: submit error (Invalid Job Dependency)" >&2; exit 208
        fi
        case $ID_IDX in -) id=$ID_SEQ ;; *) id="$ID_SEQ[$ID_IDX]" ;; esac
        DEPEND_CANON="$DEPEND_CANON $type:$id"
      done
    done
  fi

  WORKDIR=${O_WDIR:-$(pwd)}
  JOB_CWD=$O_INITDIR
  [ "$FAKE_FLAVOR" = pbspro ] && JOB_CWD=
  USER_NAME=$(id -un 2>/dev/null || echo "${USER:-user}")
  now=$(date +%s)

  lock
  read_file "$S/seq" 0; seq=$((R + 1)); echo "$seq" > "$S/seq"
  J=$S/jobs/$seq
  mkdir -p "$J/e"
  mv "$tmpf" "$J/script"
  {
    pl "SEQ=$seq ARRAY=$ARRAY LIMIT=$LIMIT"
    pl "INDICES=$(q "$INDICES")"
    pl "RANGE=$(q "$RANGE")"
    pl "NAME=$(q "$NAME")"
    pl "OUTPATH=$(q "$O_OUT")"
    pl "ERRPATH=$(q "$O_ERR")"
    pl "JOIN=$(q "$O_JOIN")"
    pl "KEEP=$(q "$O_KEEP")"
    pl "WALLTIME=$(q "$WALLTIME")"
    pl "WALLTIME_STR=$(q "$WALLTIME_STR")"
    pl "DEPEND=$(q "${DEPEND_CANON# }")"
    pl "DEPEND_STR=$(q "$O_DEPEND")"
    pl "QUEUE_NAME=$(q "${O_QUEUE:-$QUEUE}")"
    pl "PROJECT=$(q "$O_PROJECT")"
    pl "ACCOUNT=$(q "$O_ACCOUNT")"
    pl "MAIL_POINTS=$(q "$O_MAILP")"
    pl "SHELL_PATH=$(q "$O_SHELL")"
    pl "USER_HOLD=$O_HOLD"
    pl "PRIORITY=$(q "$O_PRIO")"
    pl "WORKDIR=$(q "$WORKDIR")"
    pl "JOB_CWD=$(q "$JOB_CWD")"
    pl "USER_NAME=$(q "$USER_NAME")"
    pl "O_PATH=$(q "${PATH:-/usr/bin:/bin}")"
    pl "CTIME=$now"
    pl "CTIME_STR=$(q "$(ctime_of "$now")")"
    pl "SUBMIT_ARGS=$(q "$SUBMIT_ARGS")"
  } > "$J/job"
  printf '%s' "$O_RES" > "$J/res"
  echo "$INDICES" > "$J/indices"
  # environment and Variable_List: PBS_O_* always, -v variables, -V the whole environment
  {
    [ "$O_VALL" = 1 ] && export -p
    printf 'PBS_O_HOME\t%s\nPBS_O_LOGNAME\t%s\nPBS_O_PATH\t%s\nPBS_O_SHELL\t%s\nPBS_O_WORKDIR\t%s\nPBS_O_HOST\t%s\nPBS_O_QUEUE\t%s\n' \
      "${HOME:-/}" "$USER_NAME" "${PATH:-}" "${SHELL:-/bin/sh}" "$WORKDIR" "$FAKE_HOST" "${O_QUEUE:-$QUEUE}" > "$J/vars"
    [ "$FAKE_FLAVOR" = pbspro ] && printf 'PBS_O_SYSTEM\t%s\n' "$(uname -s)" >> "$J/vars"
    [ "$FAKE_FLAVOR" = torque ] && [ -n "$O_INITDIR" ] && printf 'PBS_O_INITDIR\t%s\n' "$O_INITDIR" >> "$J/vars"
    if [ -n "$O_VLIST" ]; then
      set -f; IFS=,; set -- $O_VLIST; IFS=$DEFAULT_IFS; set +f
      for v in "$@"; do
        case $v in
          *=*) vname=${v%%=*}; vval=${v#*=} ;;
          *) vname=$v; eval "vval=\${$vname-}" ;;
        esac
        printf '%s\t%s\n' "$vname" "$(printf '%s' "$vval" | tr '\t\n' '  ')" >> "$J/vars"
      done
    fi
    while IFS="	" read -r k v; do pl "export $k=$(q "$v")"; done < "$J/vars"
  } > "$J/env"
  for idx in $INDICES; do mkdir "$J/e/$idx"; done
  if [ -n "$DEPEND_CANON" ] || [ "$O_HOLD" = 1 ]; then
    st=H; [ -n "$DEPEND_CANON" ] && : > "$J/held"
  else st=Q; fi
  for idx in $INDICES; do echo "$st" > "$J/e/$idx/state"; done
  echo "$ARRAY" > "$J/array"   # written last: the job exists for dependencies from here on
  echo "$seq" > "$S/active/$(printf %09d "$seq")"
  ensure_daemon
  unlock

  if [ "$ARRAY" = 1 ]; then echo "$seq[].$SERVER"; else echo "$seq.$SERVER"; fi
}

save_cmd_opts() {
  C_NAME=$O_NAME C_OUT=$O_OUT C_ERR=$O_ERR C_JOIN=$O_JOIN C_KEEP=$O_KEEP C_ARRAY=$O_ARRAY C_DEPEND=$O_DEPEND
  C_WATTR=$O_WATTR C_QUEUE=$O_QUEUE C_PROJECT=$O_PROJECT C_ACCOUNT=$O_ACCOUNT C_MAILP=$O_MAILP C_MAILU=$O_MAILU
  C_SHELL=$O_SHELL C_VLIST=$O_VLIST C_VALL=$O_VALL C_HOLD=$O_HOLD C_RERUN=$O_RERUN C_PRIO=$O_PRIO
  C_INITDIR=$O_INITDIR C_WDIR=$O_WDIR
}
# a command-line value replaces the directive's (defaults n/a/0 count as "not given")
restore_cmd_opts() {
  [ -n "$C_NAME" ] && O_NAME=$C_NAME; [ -n "$C_OUT" ] && O_OUT=$C_OUT; [ -n "$C_ERR" ] && O_ERR=$C_ERR
  [ "$C_JOIN" != n ] && O_JOIN=$C_JOIN; [ "$C_KEEP" != n ] && O_KEEP=$C_KEEP; [ -n "$C_ARRAY" ] && O_ARRAY=$C_ARRAY
  [ -n "$C_DEPEND" ] && O_DEPEND=$C_DEPEND; [ -n "$C_WATTR" ] && O_WATTR="$O_WATTR $C_WATTR"
  [ -n "$C_QUEUE" ] && O_QUEUE=$C_QUEUE; [ -n "$C_PROJECT" ] && O_PROJECT=$C_PROJECT
  [ -n "$C_ACCOUNT" ] && O_ACCOUNT=$C_ACCOUNT; [ "$C_MAILP" != a ] && O_MAILP=$C_MAILP
  [ -n "$C_MAILU" ] && O_MAILU=$C_MAILU; [ -n "$C_SHELL" ] && O_SHELL=$C_SHELL
  [ -n "$C_VLIST" ] && O_VLIST="${O_VLIST:+$O_VLIST,}$C_VLIST"; [ "$C_VALL" = 1 ] && O_VALL=1
  [ "$C_HOLD" = 1 ] && O_HOLD=1; [ -n "$C_RERUN" ] && O_RERUN=$C_RERUN; [ "$C_PRIO" != 0 ] && O_PRIO=$C_PRIO
  [ -n "$C_INITDIR" ] && O_INITDIR=$C_INITDIR; [ -n "$C_WDIR" ] && O_WDIR=$C_WDIR
  :
}

# ---------------------------------------------------------------- qdel
fake_qdel() {
  PROG=qdel
  fake_init
  local rc=0 id idx st did live E o
  OPTIND=1
  while getopts ':W:xp' o; do :; done   # -W force, -x (history), -p: accepted
  shift $((OPTIND - 1))
  [ $# -gt 0 ] || { echo "usage: qdel [-W force|suppress_email=X] [-x] job_identifier..." >&2; exit 2; }
  lock
  for id in "$@"; do
    if ! parse_id "$id" || ! job_exists "$ID_SEQ" "$ID_IDX"; then
      if [ "$FAKE_FLAVOR" = pbspro ]; then echo "qdel: Unknown Job Id $id" >&2
      else echo "qdel: nonexistent job id: $id" >&2; fi
      rc=153; continue
    fi
    case $ID_IDX in -) set -- _ ;; '') set -- $INDICES ;; *) set -- "$ID_IDX" ;; esac
    live=0
    for idx in "$@"; do
      E=$J/e/$idx; read_file "$E/state"; st=$R
      case $st in
        Q|H) live=1; delete_unstarted "$E" "" ;;
        R) live=1
           if [ ! -f "$E/killreq" ]; then
             : > "$E/killreq"
             read_file "$E/pid"; [ -n "$R" ] && start_kill "$E" "$R" qdel
           fi ;;
        E) live=1 ;;
      esac
    done
    if [ "$live" = 0 ]; then
      cid=$(canon_id "$ID_SEQ" "$ID_IDX")
      if [ "$FAKE_FLAVOR" = pbspro ]; then echo "qdel: Job has finished $cid" >&2; rc=35
      else echo "qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE $cid" >&2; rc=170; fi
    fi
  done
  ensure_daemon
  unlock
  exit $rc
}

# ---------------------------------------------------------------- qstat
# Records for the formatters, one per line, tab separated:
#   J id | S key value (string) | A key value (number when numeric) | R key value (Resource_List) | V key value (Variable_List)
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }

# element_view DIR -> EST (state as shown), EEXIT (or ""), ECOMMENT
element_view() {
  read_file "$1/state"; EST=$R
  read_file "$1/exit"; EEXIT=$R
  read_file "$1/comment"; ECOMMENT=$R
}

common_recs() { # the attributes a job, an array and a subjob share (job loaded)
  local k v
  rec S Job_Name "$1"
  rec S Job_Owner "$USER_NAME@$FAKE_HOST"
  rec A job_state "$2"
  rec S queue "$QUEUE_NAME"
  rec S server "$SERVER"
  rec S Checkpoint u
  rec S ctime "$CTIME_STR"
  rec S Error_Path "$FAKE_HOST:$3"
  rec S Output_Path "$FAKE_HOST:$4"
  rec S Hold_Types "$5"
  rec S Join_Path "$JOIN"
  rec S Keep_Files "$KEEP"
  rec S Mail_Points "$MAIL_POINTS"
  rec S mtime "$CTIME_STR"
  rec A Priority "$PRIORITY"
  rec S qtime "$CTIME_STR"
  rec S Rerunable True
  [ -n "$DEPEND_STR" ] && rec S depend "$DEPEND_STR"
  [ -n "$PROJECT" ] && rec S project "$PROJECT"
  [ -n "$ACCOUNT" ] && rec S Account_Name "$ACCOUNT"
  while IFS= read -r k || [ -n "$k" ]; do
    [ -n "$k" ] && rec R "${k%%=*}" "${k#*=}"
  done < "$J/res"
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    grep -q '^ncpus=' "$J/res" || rec R ncpus 1
    grep -q '^select=' "$J/res" || rec R select 1:ncpus=1
  fi
  while IFS="	" read -r k v; do rec V "$k" "$v"; done < "$J/vars"
  [ "$FAKE_FLAVOR" = torque ] && rec S init_work_dir "${JOB_CWD:-${HOME:-/}}"
  rec S Submit_Host "$FAKE_HOST"
}

run_recs() { # DIR: attributes of an element that has started
  local E=$1
  if [ -f "$E/stime" ]; then
    read_file "$E/stime"
    if [ "$FAKE_FLAVOR" = pbspro ]; then rec S stime "$(ctime_of "$R")"; else rec A start_time "$R"; fi
    read_file "$E/pid"; [ -n "$R" ] && rec A session_id "$R"
    if [ "$FAKE_FLAVOR" = pbspro ]; then rec S exec_host "$FAKE_HOST/0"; rec S exec_vnode "($FAKE_HOST:ncpus=1)"
    else rec S exec_host "$FAKE_HOST/0"; fi
    rec A run_count 1
  fi
  if [ -f "$E/etime" ] && [ "$FAKE_FLAVOR" = torque ]; then read_file "$E/etime"; rec A comp_time "$R"; fi
  # The walltime it used (Torque's text output), HH:MM:SS, up to its end or now.
  if [ -f "$E/stime" ] && [ "$FAKE_FLAVOR" = torque ]; then
    local s0 s1
    read_file "$E/stime"; s0=$R
    if [ -f "$E/etime" ]; then read_file "$E/etime"; s1=$R; else s1=$(date +%s); fi
    s1=$((s1 - s0))
    rec S resources_used.walltime "$(printf '%02d:%02d:%02d' $((s1 / 3600)) $((s1 / 60 % 60)) $((s1 % 60)))"
  fi
}

# emit_single SEQ: a job that is not an array
emit_single() {
  local E=$J/e/_ hold=n
  element_view "$E"
  out_paths "$1" _
  [ "$EST" = H ] && hold=s
  rec J "$1.$SERVER" ""
  common_recs "$NAME" "$EST" "$ERRF" "$OUTF" "$hold"
  run_recs "$E"
  [ -n "$ECOMMENT" ] && rec S comment "$ECOMMENT"
  [ -n "$EEXIT" ] && rec A "$EXIT_KEY" "$EEXIT"
  [ "$FAKE_FLAVOR" = torque ] && [ -n "$WALLTIME" ] && rec S Walltime.Remaining "$WALLTIME"
  rec S euser "$USER_NAME"
}

# emit_sub SEQ IDX: one subjob
emit_sub() {
  local E=$J/e/$2 st jn
  element_view "$E"
  out_paths "$1" "$2"
  st=$EST
  jn=$NAME
  if [ "$FAKE_FLAVOR" = pbspro ]; then [ "$st" = H ] && st=Q; else jn=$NAME-$2; fi
  rec J "$1[$2].$SERVER" ""
  common_recs "$jn" "$st" "$ERRF" "$OUTF" "$( [ "$EST" = H ] && echo s || echo n)"
  run_recs "$E"
  [ -n "$ECOMMENT" ] && rec S comment "$ECOMMENT"
  [ -n "$EEXIT" ] && rec A "$EXIT_KEY" "$EEXIT"
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    rec S array_id "$1[].$SERVER"; rec A array_index "$2"
  else
    rec A job_array_id "$2"
    [ -n "$WALLTIME" ] && rec S Walltime.Remaining "$WALLTIME"
  fi
  rec S euser "$USER_NAME"
}

# array_summary SEQ -> AST (state of the array), AEXIT, counts
array_summary() {
  local idx q=0 r=0 e=0 x=0 h=0 n_ex=0 n_bad=0 begun=0 rem=
  for idx in $INDICES; do
    read_file "$J/e/$idx/state"
    case $R in
      Q) q=$((q + 1)); rem="$rem $idx" ;;
      H) h=$((h + 1)); rem="$rem $idx" ;;
      R) r=$((r + 1)) ;;
      E) e=$((e + 1)) ;;
      *) x=$((x + 1)) ;;
    esac
    [ -f "$J/e/$idx/stime" ] && begun=1
    if [ -f "$J/e/$idx/exit" ]; then
      read_file "$J/e/$idx/exit"; n_ex=$((n_ex + 1)); [ "$R" = 0 ] || n_bad=$((n_bad + 1))
    fi
  done
  A_Q=$q A_R=$r A_E=$e A_X=$x A_H=$h A_REM=${rem# }
  AEXIT=
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    if [ $((q + h + r + e)) = 0 ]; then AST=F
      if [ "$n_ex" -gt 0 ]; then if [ "$n_bad" = 0 ]; then AEXIT=0; else AEXIT=1; fi; fi
    elif [ "$h" -gt 0 ] && [ "$begun" = 0 ]; then AST=H
    elif [ "$begun" = 1 ]; then AST=B
    else AST=Q; fi
  else
    # Torque's update_array_statuses(): R if any runs, C once none is left, else Q
    if [ "$r" -gt 0 ]; then AST=R
    elif [ "$x" -gt 0 ] && [ $((q + h + e)) = 0 ]; then AST=C
    else AST=Q; fi
  fi
}

emit_array() { # SEQ
  local outp errp
  array_summary "$1"
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    outp=${OUTPATH:-$WORKDIR/$NAME.o$1.^array_index^}; errp=${ERRPATH:-$WORKDIR/$NAME.e$1.^array_index^}
  else
    outp=${OUTPATH:-$WORKDIR/$NAME.o$1}; errp=${ERRPATH:-$WORKDIR/$NAME.e$1}
  fi
  case $outp in /*) ;; *) outp=$WORKDIR/$outp ;; esac
  case $errp in /*) ;; *) errp=$WORKDIR/$errp ;; esac
  rec J "$1[].$SERVER" ""
  common_recs "$NAME" "$AST" "$errp" "$outp" "$( [ "$AST" = H ] && echo s || echo n)"
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    [ -n "$AEXIT" ] && rec A Exit_status "$AEXIT"
    rec S array True
    rec S array_indices_submitted "$RANGE"
    [ -n "$A_REM" ] && rec S array_indices_remaining "$(compress "$A_REM")"
    rec S array_state_count "Queued:$((A_Q + A_H)) Running:$A_R Exiting:$A_E Expired:$A_X "
    [ "$LIMIT" != 0 ] && rec A max_run_subjobs "$LIMIT"
  else
    rec S job_array_request "$RANGE"
  fi
  rec S euser "$USER_NAME"
}

compress() { # "1 2 3 5" -> "1-3,5"
  printf '%s\n' "$1" | awk '{ s = ""; i = 1
    while (i <= NF) { j = i; while (j < NF && $(j+1) == $j + 1) j++
      s = s (s == "" ? "" : ",") (j > i ? $i "-" $j : $i); i = j + 1 }
    print s }'
}

# show_job SEQ IDX: records for one requested id, following -t (job loaded)
show_job() {
  local idx
  case $2 in
    -) emit_single "$1" ;;
    '') if [ "$FAKE_FLAVOR" = pbspro ]; then
          emit_array "$1"
          [ "$OPT_T" = 1 ] && for idx in $INDICES; do emit_sub "$1" "$idx"; done
        else
          if [ "$OPT_T" = 1 ]; then for idx in $INDICES; do emit_sub "$1" "$idx"; done
          else emit_array "$1"; fi
        fi ;;
    *) emit_sub "$1" "$2" ;;
  esac
}

job_finished() { # job loaded: every element ended
  local idx
  for idx in $INDICES; do read_file "$J/e/$idx/state"; is_terminal "$R" || return 1; done
  return 0
}

# job_forgotten: the job (loaded) ended XRUN_FAKE_PBS_KEEP seconds ago or more, and the server no
# longer knows it: PBS Pro with job_history_enable false (its default) forgets a finished job at
# once (KEEP=0), Torque after keep_completed seconds. Unset: finished jobs are kept.
job_forgotten() {
  [ -n "${XRUN_FAKE_PBS_KEEP:-}" ] || return 1
  job_finished || return 1
  local idx last=0
  for idx in $INDICES; do read_file "$J/e/$idx/etime"; [ "${R:-0}" -gt "$last" ] && last=$R; done
  [ $(($(date +%s) - last)) -ge "$XRUN_FAKE_PBS_KEEP" ]
}

fake_qstat() {
  PROG=qstat
  fake_init
  local o rc=0 fmt=text full=0 id seq tmp
  OPT_T=0; OPT_X=0; OPT_C=0
  case ${1:-} in --version)
    if [ "$FAKE_FLAVOR" = pbspro ]; then echo "pbs_version = 19.1.3"; else echo "Version: 6.1.3"; fi
    exit 0 ;; esac
  OPTIND=1
  if [ "$FAKE_FLAVOR" = pbspro ]; then
    while getopts ':fF:txHJpwasinu:1GMrTeE' o; do
      case $o in
        f) full=1 ;; F) fmt=$OPTARG ;; t) OPT_T=1 ;; x|H) OPT_X=1 ;;
        \?) echo "qstat: invalid option -- '$OPTARG'" >&2; exit 2 ;;
        :) echo "qstat: option requires an argument -- '$OPTARG'" >&2; exit 2 ;;
      esac
    done
    case $fmt in text|json|dsv) ;; *) echo "qstat: invalid output format, must be one of: default, dsv, json" >&2; exit 2 ;; esac
    [ "$fmt" = json ] && [ "$full" = 0 ] && { echo "qstat: invalid option -F json without -f" >&2; exit 2; }
    [ "$fmt" = dsv ] && fmt=text
  else
    while getopts ':fctaxn1su:rieGMRQBq' o; do
      case $o in
        f) full=1 ;; t) OPT_T=1 ;; c) OPT_C=1 ;;
        x) echo "qstat: the fake does not implement the XML output (-x)" >&2; exit 2 ;;
        \?) echo "qstat: invalid option -- '$OPTARG'" >&2; exit 2 ;;
        :) echo "qstat: option requires an argument -- '$OPTARG'" >&2; exit 2 ;;
      esac
    done
    [ -n "${PBS_QSTAT_NO_COMPLETE:-}" ] && OPT_C=1
  fi
  shift $((OPTIND - 1))
  if [ "$FAKE_FLAVOR" = pbspro ]; then EXIT_KEY=Exit_status; else EXIT_KEY=exit_status; fi

  tmp=$S/qstat.$$
  lock
  {
    if [ $# = 0 ]; then
      for seq in $(ls "$S/jobs" | sort -n); do
        J=$S/jobs/$seq; [ -f "$J/array" ] || continue
        . "$J/job"
        job_forgotten && continue
        if job_finished; then
          [ "$FAKE_FLAVOR" = pbspro ] && [ "$OPT_X" = 0 ] && continue
          [ "$FAKE_FLAVOR" = torque ] && [ "$OPT_C" = 1 ] && continue
        fi
        if [ "$ARRAY" = 1 ]; then show_job "$seq" ''; else show_job "$seq" -; fi
      done
    else
      for id in "$@"; do
        if ! parse_id "$id" || ! job_exists "$ID_SEQ" "$ID_IDX" || job_forgotten; then
          if [ "$FAKE_FLAVOR" = pbspro ]; then echo "qstat: Unknown Job Id $id" >&2
          else echo "qstat: Unknown Job Id Error $id" >&2; fi
          rc=153; continue
        fi
        if [ "$FAKE_FLAVOR" = pbspro ] && [ "$OPT_X" = 0 ] && [ "$ID_IDX" = - -o "$ID_IDX" = '' ] && job_finished; then
          echo "qstat: $(canon_id "$ID_SEQ" "$ID_IDX") Job has finished, use -x or -H to obtain historical job information" >&2
          rc=35; continue
        fi
        show_job "$ID_SEQ" "$ID_IDX"
      done
    fi
  } > "$tmp"
  unlock

  if [ "$fmt" = json ]; then
    awk -v ts="$(date +%s)" -v srv="$SERVER" -f "$FAKE_LIBDIR/json.awk" "$tmp"
  elif [ "$full" = 1 ]; then
    awk -f "$FAKE_LIBDIR/full.awk" "$tmp"
  else
    awk -v flavour="$FAKE_FLAVOR" -f "$FAKE_LIBDIR/table.awk" "$tmp"
  fi
  rm -f "$tmp"
  exit $rc
}
