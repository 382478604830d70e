# rnnc_add_model: compile a model ahead of time inside a CMake project (docs/aot.md).
#
#   rnnc_add_model(NAME MODEL <file.rnn | file.onnx>
#                  [TRAIN_MODEL <train.rnn>
#                   | TRAIN LOSS <mse|bce|cross-entropy> [OUTPUT <name>] [OPTIMIZER <spec>]
#                     [CLIP_NORM <x>]]
#                  [TARGET_CPU <cpu>] [OPT_LEVEL <O0|O1>])
#
# runs `rnnc compile` at build time (again whenever a model file or rnnc changes) into
# <build>/rnnc_models/NAME and defines target NAME: an INTERFACE library that links
# libNAME.a (and OpenBLAS and libm) and puts NAME.h on the include path. NAME is also the
# prefix of the library's C symbols (NAME_create, NAME_forward, ...), so it must be a C
# identifier. The variable NAME_RNNC_DIR names the folder (libNAME.so is there too).
#
# The rnnc driver is the imported target rnnc::rnnc (find_package(rnnc)) or, inside rnnc's
# own build, the target rnnc.
function(rnnc_add_model name)
  cmake_parse_arguments(ARG "TRAIN"
                        "MODEL;TRAIN_MODEL;LOSS;OUTPUT;OPTIMIZER;CLIP_NORM;TARGET_CPU;OPT_LEVEL" ""
                        ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "rnnc_add_model(${name}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_MODEL)
    message(FATAL_ERROR "rnnc_add_model(${name}): MODEL <file> is required")
  endif()
  if(ARG_TRAIN AND ARG_TRAIN_MODEL)
    message(FATAL_ERROR "rnnc_add_model(${name}): TRAIN and TRAIN_MODEL exclude each other")
  endif()
  if(TARGET rnnc::rnnc)
    set(driver rnnc::rnnc)
  elseif(TARGET rnnc)
    set(driver rnnc)
  else()
    message(FATAL_ERROR "rnnc_add_model(${name}): no rnnc driver: call find_package(rnnc) first")
  endif()

  get_filename_component(model "${ARG_MODEL}" ABSOLUTE)
  set(arguments compile "${model}" -o "${CMAKE_CURRENT_BINARY_DIR}/rnnc_models/${name}"
                --name ${name})
  set(depends "${model}")
  if(ARG_TRAIN_MODEL)
    get_filename_component(train_model "${ARG_TRAIN_MODEL}" ABSOLUTE)
    list(APPEND arguments --train-model "${train_model}")
    list(APPEND depends "${train_model}")
  endif()
  if(ARG_TRAIN)
    if(NOT ARG_LOSS)
      message(FATAL_ERROR "rnnc_add_model(${name}): TRAIN needs LOSS")
    endif()
    list(APPEND arguments --train --loss ${ARG_LOSS})
    foreach(option OUTPUT OPTIMIZER CLIP_NORM)
      if(DEFINED ARG_${option})
        string(TOLOWER ${option} flag)
        string(REPLACE "_" "-" flag ${flag})
        list(APPEND arguments --${flag} ${ARG_${option}})
      endif()
    endforeach()
  elseif(ARG_LOSS OR ARG_OUTPUT OR ARG_OPTIMIZER OR ARG_CLIP_NORM)
    message(FATAL_ERROR "rnnc_add_model(${name}): LOSS, OUTPUT, OPTIMIZER and CLIP_NORM need TRAIN")
  endif()
  if(ARG_TARGET_CPU)
    list(APPEND arguments --target-cpu ${ARG_TARGET_CPU})
  endif()
  if(ARG_OPT_LEVEL)
    list(APPEND arguments -${ARG_OPT_LEVEL})
  endif()

  set(folder "${CMAKE_CURRENT_BINARY_DIR}/rnnc_models/${name}")
  # The folder exists at configure time: CMake checks an include directory it is given.
  file(MAKE_DIRECTORY "${folder}")
  set(outputs "${folder}/${name}.h" "${folder}/lib${name}.a" "${folder}/lib${name}.so"
              "${folder}/${name}.o" "${folder}/${name}_runtime.c" "${folder}/${name}_parallel.c")
  add_custom_command(OUTPUT ${outputs}
                     COMMAND ${driver} ${arguments}
                     DEPENDS ${depends} $<TARGET_FILE:${driver}>
                     COMMENT "rnnc compile ${name}"
                     VERBATIM)
  add_custom_target(${name}_rnnc_compile DEPENDS ${outputs})
  add_library(${name} INTERFACE)
  add_dependencies(${name} ${name}_rnnc_compile)
  target_include_directories(${name} INTERFACE "${folder}")
  target_link_libraries(${name} INTERFACE "${folder}/lib${name}.a" openblas m pthread)
  set(${name}_RNNC_DIR "${folder}" PARENT_SCOPE)
endfunction()
