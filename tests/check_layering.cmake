# The layering the build cannot see (yaml-cpp's headers are system headers): the modules after
# the plan (store, run, backend) read plan.json and meta.json, never the experiment file, so
# none of their sources or headers includes the YAML-facing headers (spec.hpp, the variable
# engine, the expander) or yaml-cpp itself.
set(bad "")
foreach(module store run backend)
  file(GLOB_RECURSE files ${ROOT}/src/${module}/*.cpp ${ROOT}/include/xrun/${module}/*.hpp)
  foreach(f ${files})
    file(STRINGS ${f} lines REGEX "#include [<\"](yaml-cpp/|xrun/spec/spec.hpp|xrun/vars/|xrun/plan/expander.hpp)")
    if(lines)
      list(APPEND bad "${f}: ${lines}")
    endif()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "store, run and backend must not include the experiment file's parser:\n  ${bad}")
endif()
