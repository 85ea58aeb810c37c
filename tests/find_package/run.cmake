# CTest's find_package test (tests/CMakeLists.txt): installs the build tree
# BUILD_DIR into WORK_DIR/prefix, configures and builds SOURCE_DIR (this
# folder) against it with CMAKE_PREFIX_PATH, and runs the program. Any failing
# step fails the test with that step's output.
#   cmake -D BUILD_DIR=... -D SOURCE_DIR=... -D WORK_DIR=... -D CXX=... -P run.cmake
foreach(variable BUILD_DIR SOURCE_DIR WORK_DIR CXX)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "run.cmake: -D ${variable}=... is required")
  endif()
endforeach()

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "find_package test: ${what} failed (${status}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
step("install into ${WORK_DIR}/prefix"
     ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
step("configure against the installed package"
     ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -DCMAKE_CXX_COMPILER=${CXX}
     -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
step("build" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step("run" "${WORK_DIR}/build/find_package_test")
message(STATUS "${step_output}")
file(REMOVE_RECURSE "${WORK_DIR}")
