# plot.gp — plots of the benchmark results (gnuplot 5).
#
#   gnuplot -e "dir='bench-results'" tests/bench/plot.gp
#
# Reads, in dir: sim-convergence.csv and sim-spread.csv (bench-sim),
# agents-curves.csv and agents-detection-cdf.csv (bench-agents.py). Missing
# inputs are skipped. Writes each plot as SVG and PNG into dir:
#   sim-convergence     fraction of simulated nodes that see everyone, vs time
#   sim-spread          CDF of per-node latency: update spread, non-alive, dead
#   agents-convergence  fraction of agents that see everyone (first run), vs time
#   agents-detection    CDF of per-survivor detection latency after kill -9
#
# SPDX-License-Identifier: MIT

if (!exists("dir")) dir = "bench-results"
exists_file(f) = system(sprintf("test -s '%s' && echo 1 || echo 0", f)) eq "1"
set datafile separator ","
set key bottom right
set grid
set style data lines

# Renders the plot command in "cmd" as SVG and PNG named "name" (eval render).
render = "set terminal svg size 900,540 dynamic noenhanced font 'sans,12'; set output dir.'/'.name.'.svg'; eval(cmd); \
          set terminal pngcairo size 900,540 noenhanced font 'sans,10'; set output dir.'/'.name.'.png'; eval(cmd); set output"

# --- simulation: convergence over time ---------------------------------------
f = dir."/sim-convergence.csv"
if (exists_file(f)) {
  sizes = system(sprintf("awk -F, 'NR>1{print $1}' '%s' | sort -un | tr '\\n' ' '", f))
  name = "sim-convergence"
  set title "Simulation: nodes that see all N alive (simultaneous joins, virtual time)"
  set xlabel "virtual seconds since the joins"
  set ylabel "fraction of nodes"
  set yrange [0:1.05]
  set logscale x
  set xrange [0.001:*]
  cmd = "plot for [n in sizes] sprintf(\"< awk -F, 'NR>1 && $1==%s && $2>0' '%s'\", n, f) using 2:3 title 'N='.n lw 2"
  eval render
  unset logscale x
  set autoscale x
  set autoscale y
}

# --- simulation: spread latency CDFs -------------------------------------------
f = dir."/sim-spread.csv"
if (exists_file(f)) {
  series = system(sprintf("awk -F, 'NR>1{print $2\"-N\"$1}' '%s' | sort -u | tr '\\n' ' '", f))
  name = "sim-spread"
  set title "Simulation: per-node latency (update spread; victim non-alive; victim dead)"
  set xlabel "virtual seconds (update: from the change; non-alive/dead: from the kill)"
  set ylabel "fraction of nodes (CDF)"
  set yrange [0:1.05]
  set logscale x
  set xrange [0.0005:100]
  cmd = "plot for [s in series] sprintf(\"< awk -F, 'NR>1 && $2\\\"-N\\\"$1==\\\"%s\\\" {print $3}' '%s' | sort -g | awk '{a[NR]=$1} END{for(i=1;i<=NR;i++) print a[i]\\\",\\\"i/NR}'\", s, f) using 1:2 title s lw 2"
  eval render
  unset logscale x
  set autoscale x
  set autoscale y
}

# --- agents: convergence over time ---------------------------------------------
f = dir."/agents-curves.csv"
if (exists_file(f)) {
  series = system(sprintf("awk -F, 'NR>1 && $4==0 {print $1\"-\"$2\"-N\"$3}' '%s' | sort -u | tr '\\n' ' '", f))
  name = "agents-convergence"
  set title "Agents on loopback: fraction that list all N alive (first run)"
  set xlabel "seconds since the last agent started"
  set ylabel "fraction of agents"
  set yrange [0:1.05]
  set logscale x
  set xrange [0.005:*]
  cmd = "plot for [s in series] sprintf(\"< awk -F, 'NR>1 && $4==0 && $1\\\"-\\\"$2\\\"-N\\\"$3==\\\"%s\\\"' '%s'\", s, f) using 5:6 title s lw 2"
  eval render
  unset logscale x
  set autoscale x
  set autoscale y
}

# --- agents: detection latency distribution --------------------------------------
f = dir."/agents-detection-cdf.csv"
if (exists_file(f)) {
  series = system(sprintf("awk -F, 'NR>1{print $1}' '%s' | sort -u | tr '\\n' ' '", f))
  name = "agents-detection"
  set title "Agents: per-survivor time to see a kill -9'd agent non-alive (all runs)"
  set xlabel "seconds since kill -9"
  set ylabel "fraction of survivor observations (CDF)"
  set yrange [0:1.05]
  cmd = "plot for [s in series] sprintf(\"< awk -F, 'NR>1 && $1==\\\"%s\\\"' '%s'\", s, f) using 2:3 title s lw 2"
  eval render
  set autoscale y
}
