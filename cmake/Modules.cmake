# xrun_module(NAME [PUBLIC deps...] [PRIVATE deps...]): the static library xrun_NAME built from
# src/NAME/ (subfolders included), with the shared include root and the project's warnings.
function(xrun_module name)
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  add_library(xrun_${name} STATIC ${sources})
  target_include_directories(xrun_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_compile_definitions(xrun_${name} PRIVATE XRUN_VERSION="${PROJECT_VERSION}")
  target_link_libraries(xrun_${name} ${ARGN})
  xrun_set_warnings(xrun_${name})
endfunction()
