# rnnc_library(NAME DIR [DEPS ...]): a static library from every .cpp under DIR.
function(rnnc_library name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY RNNC_LIBRARIES ${name})
endfunction()

# The libraries made by rnnc_library so far (tests link them all).
function(rnnc_libraries out)
  get_property(libraries GLOBAL PROPERTY RNNC_LIBRARIES)
  set(${out} ${libraries} PARENT_SCOPE)
endfunction()
