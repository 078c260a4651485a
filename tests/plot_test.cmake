# Runs `lowrank bench` and `lowrank compare` on tiny inputs, then
# bench/plot.py on their JSON, and checks that the three PNG files exist.
# Exit code 77 (skipped) when Debian's python3-matplotlib is missing.
execute_process(COMMAND /usr/bin/python3 -c "import matplotlib" RESULT_VARIABLE have_mpl
                OUTPUT_QUIET ERROR_QUIET)
if(NOT have_mpl EQUAL 0)
  message("plot_py: python3-matplotlib is not installed")
  cmake_language(EXIT 77)
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${CLI} bench --quick --n 64,128 --ranks 8 --methods exact,favor --reps 1
                        --json ${OUT}/bench.json
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lowrank bench failed: ${rc}")
endif()
execute_process(COMMAND ${CLI} compare --synthetic smooth --n 64 --d 8 --ranks 4,8,16
                        --json ${OUT}/compare.json
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc EQUAL 0)
  set(compare_args --compare ${OUT}/compare.json)
  set(pngs time_vs_n throughput_per_isa error_vs_rank)
else()  # built without LAPACKE: charts from the benchmark only
  set(compare_args)
  set(pngs time_vs_n throughput_per_isa)
endif()
execute_process(COMMAND /usr/bin/python3 ${PLOT} --bench ${OUT}/bench.json ${compare_args}
                        --out ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "plot.py failed: ${rc}")
endif()
foreach(png ${pngs})
  if(NOT EXISTS ${OUT}/${png}.png)
    message(FATAL_ERROR "plot.py did not write ${png}.png")
  endif()
endforeach()
